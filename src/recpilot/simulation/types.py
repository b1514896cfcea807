"""Typed currency of user simulation: personas, pages, actions, states, sessions, configs, results.

Every simulator engine (calibrated offline, LLM) and every runner speaks these types; nothing crosses
the simulation boundary as a bare dict.
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ActionKind = Literal["view", "click", "rate", "skip", "leave"]
EngineName = Literal["offline", "llm"]
LLMCacheMode = Literal["record", "replay", "record-or-replay", "off"]
"""``record``: ask the model and store every answer; ``replay``: answer from the cache only (a miss
stops the run); ``record-or-replay``: replay what is stored, record the rest; ``off``: no cache."""

#: ``thompson``, ``linucb``, ``epsilon`` or ``epsilon:<probability>`` (see :func:`parse_explore`).
_EXPLORE = re.compile(r"^(thompson|linucb|epsilon)(?::([0-9]*\.?[0-9]+))?$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Persona(_Model):
    """A simulated user grounded on one real user of a dataset.

    Attributes:
        user_id: External id of the real user the persona is grounded on.
        history: External item ids of the user's training interactions, oldest first.
        activity: How much the user interacts, quantile-normalised over users, in [0, 1].
        conformity: How much the user follows the crowd (popular, well-rated items), in [0, 1].
        diversity: Normalised genre entropy of the user's items, in [0, 1].
        rating_mean: Mean of the user's ratings.
        rating_std: Standard deviation of the user's ratings.
        description: A short natural-language description for LLM prompts.
    """

    user_id: str
    history: list[str] = Field(default_factory=list)
    activity: float = Field(ge=0.0, le=1.0)
    conformity: float = Field(ge=0.0, le=1.0)
    diversity: float = Field(ge=0.0, le=1.0)
    rating_mean: float
    rating_std: float = Field(ge=0.0)
    description: str = ""


class ShownItem(_Model):
    """One item on a page shown to the simulated user.

    Attributes:
        item_id: External item id.
        position: 0-based position on the page (0 is the top).
        title: Display title, if the catalog has one.
        attributes: Attribute lists from the catalog (e.g. ``{"genres": ["Drama"]}``).
    """

    item_id: str
    position: int = Field(ge=0)
    title: str = ""
    attributes: dict[str, list[str]] = Field(default_factory=dict)


class Page(_Model):
    """A page of recommendations.

    Attributes:
        session: 0-based session number of the user.
        index: 0-based page number inside the session.
        items: The items, top first.
    """

    session: int = Field(ge=0)
    index: int = Field(ge=0)
    items: list[ShownItem] = Field(default_factory=list)


class SimAction(_Model):
    """One typed action of the simulated user.

    Attributes:
        kind: ``view`` (examined, not clicked), ``click``, ``rate``, ``skip`` (not examined) or ``leave``.
        item_id: The item acted on (``None`` for ``leave``).
        position: Its position on the page.
        rating: The rating given (``rate`` only).
        reason: A short reason in words, if the engine gives one.
    """

    kind: ActionKind
    item_id: str | None = None
    position: int | None = None
    rating: float | None = None
    reason: str = ""


class PageDecision(_Model):
    """What the simulated user did with one page.

    Attributes:
        actions: The actions, in the order they happened.
        leave: Whether the user leaves the session after this page.
        satisfaction: Satisfaction after the page, in [0, 1].
        fatigue: Fatigue after the page, in [0, 1], for engines that model it (``None``: the runner
            adds one page's worth, ``1 / pages``).
    """

    actions: list[SimAction] = Field(default_factory=list)
    leave: bool = False
    satisfaction: float = Field(default=0.5, ge=0.0, le=1.0)
    fatigue: float | None = Field(default=None, ge=0.0, le=1.0)


class UserState(_Model):
    """The mutable state of a simulated user, carried across pages and sessions.

    Attributes:
        session: Current 0-based session number.
        page: Current 0-based page number inside the session.
        satisfaction: Current satisfaction in [0, 1].
        fatigue: Current fatigue in [0, 1].
        shown: External ids shown so far (all sessions).
        consumed: External ids clicked so far (all sessions).
        ratings: Ratings given so far, by external item id.
        seed: The user-session's random seed (set by the runner); engines derive every draw of page
            ``p`` from ``(seed, p)``, so any subset of a run recomputes identically.
    """

    session: int = 0
    page: int = 0
    satisfaction: float = 0.5
    fatigue: float = 0.0
    shown: list[str] = Field(default_factory=list)
    consumed: list[str] = Field(default_factory=list)
    ratings: dict[str, float] = Field(default_factory=dict)
    seed: int = 0


class Interview(_Model):
    """The post-session interview: typed fields plus a reason in words.

    Attributes:
        user_id: The persona's user id.
        session: The session asked about.
        stayed: True when the user reached the session's last page (``exit_page`` is ``None``).
        reason: Why the user left or stayed (e.g. "left after page 3: nothing matched my taste for Drama").
        satisfaction: Satisfaction at the end of the session.
        liked: External ids the user liked in the session.
        disliked: External ids the user clicked but disliked.
    """

    user_id: str
    session: int
    stayed: bool
    reason: str
    satisfaction: float = Field(ge=0.0, le=1.0)
    liked: list[str] = Field(default_factory=list)
    disliked: list[str] = Field(default_factory=list)


class Instruction(_Model):
    """A reflective instruction: what a simulated user about to leave said the feed should change.

    Attributes:
        page: The 0-based page after which the user was about to leave and said it.
        text: The instruction, e.g. "no more horror films" or "more comedy films".
        acted_on: Whether the recommender took it (then the user stayed for another page).
    """

    page: int = Field(ge=0)
    text: str
    acted_on: bool = False


class SessionRecord(_Model):
    """Everything that happened in one user-session.

    Attributes:
        user_id: The simulated user id (distinct per simulated user, even when personas repeat).
        session: 0-based session number.
        pages: Pages shown, in order.
        decisions: The user's decision per page, aligned with ``pages``.
        exit_page: The 0-based page after which the user left early, or ``None`` if they reached the
            last page (a decision to leave after the last page is no early exit).
        interview: The post-session interview, if one was taken.
        errors: Recommender or engine failures, recorded and never raised.
        instruction: The reflective instruction the user gave, if any (at most one per session).
    """

    user_id: str
    session: int
    pages: list[Page] = Field(default_factory=list)
    decisions: list[PageDecision] = Field(default_factory=list)
    exit_page: int | None = None
    interview: Interview | None = None
    errors: list[str] = Field(default_factory=list)
    instruction: Instruction | None = None


class SimulationConfig(_Model):
    """One simulation run, declared once for the CLI, tests and benchmarks.

    Attributes:
        dataset: A dataset name or path for :func:`recpilot.data.loaders.load_dataset`.
        users: Number of simulated users (may exceed the real users: personas are then resampled).
        sessions: Sessions per user.
        pages: Pages per session at most.
        page_size: Items per page.
        seed: Run seed; every user-session's seed is derived from it.
        engine: ``offline`` (calibrated, vectorised) or ``llm``.
        llm: ``URL#MODEL`` for the LLM engine.
        recommender: A model name or dotted path (``ease``, ``als``, ``pop``), ``agent``, or an
            ``http(s)://`` URL of a recommender service.
        recommender_config: Config fields of the model.
        rerank: Re-rank each page with the session's feedback (otherwise rank once per session).
        explore: Wrap the recommender in an exploration strategy: ``thompson``, ``linucb`` or
            ``epsilon:<probability>`` (see :mod:`recpilot.simulation.exploration`).
        concurrency: How many users run at once on the async path (and so LLM requests in flight).
        rate: LLM requests started per second at most (``None``: no rate limit).
        llm_cache: SQLite file of the LLM record/replay cache (``None``: no cache).
        llm_cache_mode: How the cache is used (see :data:`LLMCacheMode`).
        llm_timeout_s: Seconds one LLM request may take (``None``: ``RECPILOT_LLM_TIMEOUT_S`` or its default).
        llm_max_tokens: Tokens one LLM answer may take at most (``None``: ``RECPILOT_LLM_MAX_OUTPUT_TOKENS``
            or its default).
        instructions: Let a user about to leave say why in a short instruction that a recommender
            able to take instructions may act on (see :mod:`recpilot.simulation.instructions`); runs
            on the async path, locally, on Ray shards and in retraining rounds.
        instruction_probability: Probability that a user about to leave gives an instruction (seeded).
        chunk_users: Users per checkpointed chunk (the unit of resume).
        timeout_s: Timeout of one recommender call.
        output_dir: Where Parquet results and the journal go (``None``: keep in memory).
        run_id: Identifies the run in result tables (derived from the config when empty).
    """

    dataset: str = "ml-latest-small"
    users: int = Field(default=100, ge=1)
    sessions: int = Field(default=1, ge=1)
    pages: int = Field(default=10, ge=1)
    page_size: int = Field(default=10, ge=1)
    seed: int = Field(default=42, ge=0)
    engine: EngineName = "offline"
    llm: str | None = None
    recommender: str = "ease"
    recommender_config: dict[str, Any] = Field(default_factory=dict)
    rerank: bool = False
    explore: str | None = None
    concurrency: int = Field(default=16, ge=1)
    rate: float | None = Field(default=None, gt=0)
    llm_cache: str | None = None
    llm_cache_mode: LLMCacheMode = "record-or-replay"
    llm_timeout_s: float | None = Field(default=None, gt=0)
    llm_max_tokens: int | None = Field(default=None, gt=0)
    instructions: bool = False
    instruction_probability: float = Field(default=1.0, ge=0.0, le=1.0)
    chunk_users: int = Field(default=500, ge=1)
    timeout_s: float = Field(default=10.0, gt=0)
    output_dir: str | None = None
    run_id: str = ""

    @field_validator("explore")
    @classmethod
    def _known_strategy(cls, value: str | None) -> str | None:
        if value is not None:
            parse_explore(value)
        return value


def parse_explore(spec: str) -> tuple[str, float | None]:
    """The strategy name and its parameter in an ``explore`` value (``epsilon:0.1`` -> ``("epsilon", 0.1)``).

    Raises:
        ValueError: The value names no known strategy, or epsilon is outside [0, 1].
    """
    match = _EXPLORE.match(spec.strip().lower())
    if match is None:
        raise ValueError(f"explore {spec!r} is not known; use thompson, linucb or epsilon:<probability>")
    name, number = match.group(1), match.group(2)
    if number is not None and name != "epsilon":
        raise ValueError(f"explore {spec!r}: only epsilon takes a parameter")
    value = float(number) if number is not None else None
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"explore {spec!r}: epsilon must be in [0, 1]")
    return name, value


class EngineStats(_Model):
    """What a model-backed engine (the LLM engine) spent and how its answers fared during one run.

    Attributes:
        pages: Pages the engine decided (fallbacks included).
        requests: Model answers received (answers sent back for correction included).
        malformed: Answers rejected by validation (invalid JSON, items not on the page, ratings off
            the scale) and sent back to the model.
        failed: Pages that got the recorded fallback decision because no usable answer came.
        interview_failures: Interviews that fell back to the template.
        http_attempts: HTTP requests that reached the endpoint (cache hits excluded, retries included).
        retries: HTTP attempts beyond one per answer from the endpoint (retried 429s, 5xx, timeouts,
            and the attempts of requests that never got an answer); step-downs are not retries.
        step_downs: Requests whose shape the server refused (an output mode, the token-limit field),
            re-sent in another shape within the same call.
        input_tokens: Prompt tokens reported.
        output_tokens: Completion tokens reported.
        cache_hits: Answers replayed from the record/replay cache.
        cache_recorded: Answers fetched from the endpoint and stored in the cache.
        limit_cuts: Cuts of the endpoint's adaptive concurrency limit (timeouts, HTTP 429 or 503).
        last_error: The last failure, in words ("" when none).
    """

    pages: int = 0
    requests: int = 0
    malformed: int = 0
    failed: int = 0
    interview_failures: int = 0
    http_attempts: int = 0
    retries: int = 0
    step_downs: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_hits: int = 0
    cache_recorded: int = 0
    limit_cuts: int = 0
    last_error: str = ""


class InstructionOutcome(_Model):
    """Retention with and without reflective instructions (see :mod:`recpilot.simulation.instructions`).

    Attributes:
        given: Sessions in which the user gave an instruction.
        acted_on: Instructions the recommender took (the user then stayed for another page).
        retained_after: Sessions with an instruction in which the user did not leave on the page after
            it (they reached the last page or left later).
        retention_with_instructions: Completion rate of the run as simulated.
        retention_without: Completion rate had every instruction gone unheard: each session with an
            instruction ends at the page it was given (exact for one session per user, where pages
            before an instruction do not depend on it).
    """

    given: int = 0
    acted_on: int = 0
    retained_after: int = 0
    retention_with_instructions: float = 0.0
    retention_without: float = 0.0


class SimulationResult(_Model):
    """Summary metrics of a run.

    Attributes:
        run_id: The run's id.
        recommender: Which recommender was simulated.
        engine: Which engine decided.
        user_sessions: Number of user-sessions completed.
        ctr: Clicks per examined-or-skipped shown item (clicks / items shown).
        mean_rating: Mean of the ratings given.
        likes_per_session: Mean number of items liked per session (clicked and rated as a like).
        mean_session_length: Mean number of pages seen per session.
        exit_rate: Fraction of sessions the user left early, before the session's last page (a
            recommender that runs out of items also ends a session early).
        completion_rate: Fraction of sessions in which the user reached the last page
            (``1 - exit_rate``; leaving after the last page counts as reaching the end).
        coverage: Fraction of the catalog shown at least once.
        diversity: Mean normalised genre entropy of clicked items per session (0 when no genres).
        errors: Number of sessions with at least one recorded error.
        wall_time_s: Wall-clock time of the run.
        sessions_per_minute: Throughput.
        engine_stats: Requests, failures, tokens and cache use of a model-backed engine (``None`` for
            engines without such books, e.g. the offline engine).
        instructions: Retention with and without reflective instructions (``None``: instructions off).
    """

    run_id: str
    recommender: str
    engine: str
    user_sessions: int
    ctr: float
    mean_rating: float | None
    likes_per_session: float = 0.0
    mean_session_length: float
    exit_rate: float
    completion_rate: float
    coverage: float
    diversity: float
    errors: int
    wall_time_s: float
    sessions_per_minute: float
    engine_stats: EngineStats | None = None
    instructions: InstructionOutcome | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON the CLI prints with ``--json``."""
        return self.model_dump()


class SimColumns:
    """Column names of the Parquet result tables (one place, never string literals elsewhere)."""

    RUN: Final = "run_id"
    USER: Final = "user_id"
    SESSION: Final = "session"
    PAGE: Final = "page"
    POSITION: Final = "position"
    ITEM: Final = "item_id"
    ACTION: Final = "action"
    RATING: Final = "rating"
    SATISFACTION: Final = "satisfaction"
    FATIGUE: Final = "fatigue"
    LEFT: Final = "left"  # True on the page after which the user left early (never the last page)
    # sessions table
    PERSONA: Final = "persona_user_id"
    PAGES_SEEN: Final = "pages_seen"
    EXIT_PAGE: Final = "exit_page"
    STAYED: Final = "stayed"
    REASON: Final = "reason"
    LIKED: Final = "liked"
    DISLIKED: Final = "disliked"
    ERRORS: Final = "errors"
    INSTRUCTION: Final = "instruction"  # "" when none was given
    INSTRUCTION_PAGE: Final = "instruction_page"
    INSTRUCTION_ACTED: Final = "instruction_acted"


#: Columns of the per-shown-item table ``items.parquet``.
ITEM_TABLE_COLUMNS: Final = (
    SimColumns.RUN,
    SimColumns.USER,
    SimColumns.SESSION,
    SimColumns.PAGE,
    SimColumns.POSITION,
    SimColumns.ITEM,
    SimColumns.ACTION,
    SimColumns.RATING,
    SimColumns.SATISFACTION,
    SimColumns.FATIGUE,
    SimColumns.LEFT,
)

#: Columns of the per-session table ``sessions.parquet``.
SESSION_TABLE_COLUMNS: Final = (
    SimColumns.RUN,
    SimColumns.USER,
    SimColumns.PERSONA,
    SimColumns.SESSION,
    SimColumns.PAGES_SEEN,
    SimColumns.EXIT_PAGE,
    SimColumns.STAYED,
    SimColumns.REASON,
    SimColumns.SATISFACTION,
    SimColumns.LIKED,
    SimColumns.DISLIKED,
    SimColumns.ERRORS,
    SimColumns.INSTRUCTION,
    SimColumns.INSTRUCTION_PAGE,
    SimColumns.INSTRUCTION_ACTED,
)
