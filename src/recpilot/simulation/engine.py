"""The one contract every simulator engine fills: decide what a persona does with a page."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from typing import Any

from recpilot.simulation.types import (
    EngineStats,
    Interview,
    Page,
    PageDecision,
    Persona,
    SessionRecord,
    UserState,
)


class DecisionEngine(ABC):
    """Decides a simulated user's reaction to a page of recommendations.

    Implementations fill :meth:`adecide`; :meth:`ainterview` has a templated default built from the
    session record. Engines with a vectorised batch path (the calibrated offline engine) expose it
    separately; the runner uses it when present.

    Attributes:
        name: Short engine name for reports.
    """

    name: str = "engine"

    @abstractmethod
    async def adecide(self, persona: Persona, state: UserState, page: Page) -> PageDecision:
        """The persona's actions on ``page`` given its current ``state``.

        The engine must not mutate ``state``; the runner applies the decision.
        """

    async def ainterview(self, persona: Persona, state: UserState, record: SessionRecord) -> Interview:
        """A post-session interview; the default is templated from the record."""
        return templated_interview(persona, record, state.satisfaction)

    async def ainstruction(
        self,
        persona: Persona,
        state: UserState,
        pages: Sequence[Page],
        decisions: Sequence[PageDecision],
        suggestion: str,
    ) -> str:
        """The reflective instruction of a user about to leave (see :mod:`recpilot.simulation.instructions`).

        ``suggestion`` is the rule-based instruction grounded in the session; the default says it as
        is. A model-backed engine may let the persona word it.
        """
        return suggestion

    def initial_state(self, persona: Persona) -> UserState:
        """The state a persona starts its first session in (default: neutral satisfaction, rested)."""
        return UserState(satisfaction=0.5, fatigue=0.0)

    def carry_over(self, persona: Persona, state: UserState) -> UserState:
        """The state a persona starts its next session in (default: rested, satisfaction kept)."""
        return state.model_copy(update={"session": state.session + 1, "page": 0, "fatigue": 0.0})


def engine_stats(engine: DecisionEngine) -> EngineStats | None:
    """A snapshot of a model-backed engine's books, or ``None`` for an engine that keeps none.

    Reads the LLM engine's ``stats`` (pages, requests, rejected, failures, interview failures, tokens,
    step-downs, last error), its ``cache`` (hits, recorded answers) and its current ``limiter`` (HTTP
    attempts).
    Counters are cumulative over the engine's life; the runner reports the difference over a run.
    """
    stats: Any = getattr(engine, "stats", None)
    if stats is None:
        return None
    cache: Any = getattr(engine, "cache", None)
    limiter: Any = getattr(engine, "limiter", None)

    def count(source: Any, name: str) -> int:
        return int(getattr(source, name, 0) or 0) if source is not None else 0

    requests, hits, attempts = count(stats, "requests"), count(cache, "hits"), count(limiter, "started")
    step_downs = count(stats, "step_downs")
    return EngineStats(
        pages=count(stats, "pages"),
        requests=requests,
        malformed=count(stats, "rejected"),
        failed=count(stats, "failures"),
        interview_failures=count(stats, "interview_failures"),
        http_attempts=attempts,
        retries=max(0, attempts - max(0, requests - hits) - step_downs) if attempts else 0,
        step_downs=step_downs,
        input_tokens=count(stats, "input_tokens"),
        output_tokens=count(stats, "output_tokens"),
        cache_hits=hits,
        cache_recorded=count(cache, "misses"),
        limit_cuts=count(limiter, "cuts"),
        last_error=str(getattr(stats, "last_error", "") or ""),
    )


def stats_since(before: EngineStats | None, after: EngineStats | None) -> EngineStats | None:
    """The counters of ``after`` minus those of ``before`` (what one run spent), never negative."""
    if after is None:
        return None
    if before is None:
        return after
    counts = {
        name: max(0, int(getattr(after, name)) - int(getattr(before, name)))
        for name in EngineStats.model_fields
        if name != "last_error"
    }
    return EngineStats(**counts, last_error=after.last_error if after.last_error != before.last_error else "")


def templated_interview(
    persona: Persona,
    record: SessionRecord,
    satisfaction: float,
    *,
    genres_by_item: dict[str, list[str]] | None = None,
    liked_threshold: float | None = None,
) -> Interview:
    """Build an interview from what happened: stayed or left, liked and disliked items, a reason in words.

    Args:
        persona: The simulated user.
        record: The finished session.
        satisfaction: Satisfaction at the end of the session.
        genres_by_item: Optional genres per shown item, to name what did not match.
        liked_threshold: Ratings at or above this are "liked" (default: the persona's rating mean).
    """
    threshold = persona.rating_mean if liked_threshold is None else liked_threshold
    liked: list[str] = []
    disliked: list[str] = []
    for decision in record.decisions:
        for action in decision.actions:
            if action.kind == "rate" and action.item_id is not None and action.rating is not None:
                (liked if action.rating >= threshold else disliked).append(action.item_id)
    stayed = record.exit_page is None
    if record.errors and not record.pages:
        reason = f"nothing was shown: {record.errors[0]}"
    else:
        last = record.decisions[-1].actions if record.decisions else []
        reason = session_reason(
            record.exit_page,
            len(record.pages),
            len(liked),
            len(disliked),
            _top_genre(persona, genres_by_item),
            tired=any(a.kind == "leave" and a.reason == "tired" for a in last),
        )
    return Interview(
        user_id=record.user_id,
        session=record.session,
        stayed=stayed,
        reason=reason,
        satisfaction=min(1.0, max(0.0, satisfaction)),
        liked=liked,
        disliked=disliked,
    )


def session_reason(
    exit_page: int | None, pages: int, n_liked: int, n_disliked: int, taste: str = "", *, tired: bool = False
) -> str:
    """The templated reason of an interview, e.g. "left after page 3: nothing matched my taste for Drama"."""
    if exit_page is None:
        liked = f"; liked {n_liked} item{'s' if n_liked != 1 else ''}" if n_liked else ""
        return f"stayed for all {pages} pages{liked}"
    if n_liked and tired:
        why = "I had found enough for now"
    elif tired:
        why = "I got tired of scrolling"
    elif n_disliked and not n_liked:
        why = "what I tried disappointed me"
    else:
        why = "nothing matched my taste" + (f" for {taste}" if taste else "")
    return f"left after page {exit_page + 1}: {why}"


def _top_genre(persona: Persona, genres_by_item: dict[str, list[str]] | None) -> str:
    if genres_by_item is None:
        return ""
    counts: Counter[str] = Counter()
    for item in persona.history:
        counts.update(genres_by_item.get(item, []))
    if not counts:
        return ""
    return counts.most_common(1)[0][0]
