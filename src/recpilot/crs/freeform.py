"""Free-form conversational evaluation: a simulated user with a hidden target talks to the agent.

Targets are held-out interactions of real users (:func:`sample_goals`); each conversation runs until
the target is shown, the user leaves or claims a wrong item, or the turn budget is spent
(:func:`converse`). Success is decided here, in code: the target's id among the items the agent
showed. :func:`evaluate_freeform` runs conversations concurrently (bounded) and reports the success
rate, SR@t by turn, average turns, leaks, errors and every transcript (:class:`FreeformReport`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from recpilot.conversation.leakguard import common_title_words, distinctive_terms
from recpilot.crs.protocol import ConversationalRecommender
from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.data.splits import Split
from recpilot.errors import ConfigError
from recpilot.simulation.crs_user import (
    DialogueLine,
    SimulationGoal,
    SimulatorContext,
    SimulatorError,
    TargetItem,
    UserSimulator,
)
from recpilot.simulation.persona import build_personas
from recpilot.simulation.types import Persona, ShownItem
from recpilot.tools.context import as_list

logger = logging.getLogger("recpilot.crs")

Outcome = Literal["success", "failure", "left", "false_accept", "error"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FreeformConfig(_Model):
    """How a free-form evaluation runs.

    Attributes:
        n_users: Conversations (one per sampled user).
        max_turns: User turns per conversation.
        seed: Seed for sampling users and targets.
        concurrency: Conversations in flight at once.
        min_rating: A held-out interaction is a target only when rated at least this.
    """

    n_users: int = Field(default=20, ge=1)
    max_turns: int = Field(default=5, ge=1, le=50)
    seed: int = 42
    concurrency: int = Field(default=4, ge=1, le=64)
    min_rating: float = 4.0


class TurnRecord(_Model):
    """One exchange: the user's message, the agent's reply, the items shown.

    Attributes:
        turn: 1-based user turn.
        user: What the simulated user said (after redaction).
        agent: The agent's reply.
        shown: The items the agent showed.
        target_rank: 1-based position of the target among them, None when absent.
        leak_retries: Drafts rejected for revealing the title.
        redacted: Whether the utterance had to be redacted.
        claimed_accept: The item the simulator said it accepts (recorded, never trusted).
    """

    turn: int
    user: str
    agent: str = ""
    shown: list[ShownItem] = Field(default_factory=list)
    target_rank: int | None = None
    leak_retries: int = 0
    redacted: bool = False
    claimed_accept: str | None = None


class ConversationRecord(_Model):
    """One conversation and how it ended.

    Attributes:
        index: Its position in the run.
        goal: The target and persona.
        outcome: ``success`` (target shown), ``failure`` (turn budget spent), ``left`` (the user gave
            up), ``false_accept`` (the user accepted a non-target item), ``error`` (no usable answer).
        success_turn: The turn the target was shown on.
        turns: The exchanges, oldest first.
        leaks: Utterances redacted because every draft revealed the title.
        leak_retries: Drafts rejected for revealing the title.
        simulator_calls: LLM attempts spent by the simulator.
        agent_calls: LLM calls spent by the agent.
        error: What failed, for ``error`` outcomes.
    """

    index: int
    goal: SimulationGoal
    outcome: Outcome
    success_turn: int | None = None
    turns: list[TurnRecord] = Field(default_factory=list)
    leaks: int = 0
    leak_retries: int = 0
    simulator_calls: int = 0
    agent_calls: int = 0
    error: str | None = None


class FreeformReport(_Model):
    """The result of a free-form evaluation.

    Attributes:
        simulator: The simulator engine.
        agent_brain: The agent's brain.
        config: The run's settings.
        n_conversations: Conversations run.
        n_errors: Conversations without a usable answer (left out of the rates).
        success_rate: Successes over conversations without error.
        sr_at_turn: Success rate by turn t (target shown on turn t or earlier).
        average_turns: Mean user turns per conversation without error (failures count in full).
        average_turns_to_success: Mean turn of success over successful conversations.
        leaks: Redacted utterances over all conversations.
        leak_retries: Drafts rejected for revealing the title.
        false_accepts: Conversations where the simulator accepted a non-target item.
        left: Conversations the simulator left.
        simulator_calls: LLM attempts of the simulator.
        agent_calls: LLM calls of the agent.
        elapsed_s: Wall time of the run.
        conversations: Every conversation, with its transcript.
    """

    simulator: str
    agent_brain: str
    config: FreeformConfig
    n_conversations: int
    n_errors: int
    success_rate: float
    sr_at_turn: dict[int, float]
    average_turns: float
    average_turns_to_success: float | None
    leaks: int
    leak_retries: int
    false_accepts: int
    left: int
    simulator_calls: int
    agent_calls: int
    elapsed_s: float
    conversations: list[ConversationRecord]

    def summary(self) -> dict[str, Any]:
        """The figures without transcripts."""
        return self.model_dump(mode="json", exclude={"conversations"})


def sample_goals(split: Split, n: int, *, seed: int = 42, min_rating: float = 4.0) -> list[SimulationGoal]:
    """``n`` goals from held-out interactions: one liked held-out item each for ``n`` distinct users.

    Personas come from the users' training histories, so the target is never in them.

    Raises:
        ConfigError: No held-out interaction is rated ``min_rating`` or more.
    """
    test = split.test
    liked = test[test[Columns.RATING] >= min_rating] if Columns.RATING in test else test
    if liked.empty:
        raise ConfigError(f"no held-out interaction is rated {min_rating} or more; lower min_rating")
    rng = np.random.default_rng(seed)
    users = np.unique(liked[Columns.USER_IDX].to_numpy())
    chosen = rng.permutation(users)[: min(n, len(users))]
    dataset = split.train
    common = common_title_words(dataset.catalog[Columns.TITLE].astype(str))
    personas = build_personas(dataset, users=[int(u) for u in chosen])
    goals: list[SimulationGoal] = []
    for user, persona in zip(chosen, personas, strict=True):
        rows = liked[liked[Columns.USER_IDX] == user]
        item = int(rows[Columns.ITEM_IDX].to_numpy()[rng.integers(len(rows))])
        goals.append(build_goal(dataset, int(user), item, common=common, persona=persona))
    return goals


def build_goal(
    dataset: Dataset,
    user_idx: int,
    item_idx: int,
    *,
    common: frozenset[str],
    persona: Persona | None = None,
) -> SimulationGoal:
    """The goal of one conversation: ``item_idx`` as target, ``user_idx``'s history as persona.

    ``persona`` is ``user_idx``'s :func:`~recpilot.simulation.persona.build_personas` persona over
    ``dataset`` (built here when not given; pass it when building many goals).
    """
    target = _target(dataset, item_idx)
    if persona is None:
        persona = build_personas(dataset, users=[user_idx])[0]
    history = dataset.interactions[dataset.interactions[Columns.USER_IDX] == user_idx]
    history = history[history[Columns.ITEM_IDX] != item_idx]
    ratings = history[Columns.RATING].to_numpy(dtype=np.float64)
    liked = history[ratings >= max(4.0, float(np.median(ratings)) if len(ratings) else 4.0)]
    liked = liked.assign(_pop=dataset.item_popularity[liked[Columns.ITEM_IDX].to_numpy()])
    liked = liked.sort_values([Columns.RATING, "_pop"], ascending=False)
    titles = dataset.titles(liked[Columns.ITEM_IDX].to_numpy())
    wanted = set(target.genres)
    overlap = [
        (len(wanted & set(_genres(dataset, int(i)))) / max(1, len(wanted | set(_genres(dataset, int(i))))), t)
        for i, t in zip(liked[Columns.ITEM_IDX].to_numpy(), titles, strict=True)
    ]
    similar = [t for score, t in sorted(overlap, key=lambda p: -p[0]) if score > 0]
    return SimulationGoal(
        target=target,
        persona=persona,
        liked_titles=titles[:10],
        similar_liked=similar[:5],
        protected_terms=distinctive_terms(target.title, common),
    )


def _target(dataset: Dataset, item_idx: int) -> TargetItem:
    row = dataset.catalog.iloc[item_idx]
    year = row.get("year")
    return TargetItem(
        item_id=str(dataset.items.external_ids[item_idx]),
        title=str(row[Columns.TITLE]),
        year=int(year) if year is not None and not pd.isna(year) else None,
        genres=_genres(dataset, item_idx),
        tags=[str(t) for t in as_list(row.get("tags"))],
    )


def _genres(dataset: Dataset, item_idx: int) -> list[str]:
    if "genres" not in dataset.catalog.columns:
        return []
    return [str(g) for g in as_list(dataset.catalog["genres"].iat[item_idx]) if not str(g).startswith("(")]


async def converse(
    agent: ConversationalRecommender,
    simulator: UserSimulator,
    goal: SimulationGoal,
    *,
    max_turns: int = 5,
    index: int = 0,
    session_id: str | None = None,
) -> ConversationRecord:
    """One conversation between ``simulator`` and ``agent``; failures are recorded, never raised."""
    record = ConversationRecord(index=index, goal=goal, outcome="failure")
    session = session_id or f"freeform-{index}-{goal.persona.user_id}"
    context = SimulatorContext(turn=1)
    target = goal.target.item_id
    try:
        for turn in range(1, max_turns + 1):
            context = context.model_copy(update={"turn": turn})
            said = await simulator.reply(goal, context)
            record.simulator_calls += said.llm_calls
            record.leak_retries += said.leak_retries
            record.leaks += int(said.redacted)
            exchange = TurnRecord(
                turn=turn,
                user=said.utterance,
                leak_retries=said.leak_retries,
                redacted=said.redacted,
                claimed_accept=said.accept_item_id,
            )
            record.turns.append(exchange)
            if said.accept_item_id is not None:
                record.outcome = "false_accept"  # a shown target ends the loop before the user speaks
                break
            if said.leave:
                record.outcome = "left"
                break
            response = await agent.arespond(goal.persona.user_id, said.utterance, session_id=session)
            record.agent_calls += response.usage.llm_calls
            shown = [
                ShownItem(item_id=str(i.item_id), position=p, title=i.title)
                for p, i in enumerate(response.items)
            ]
            exchange.agent = response.reply
            exchange.shown = shown
            ids = [item.item_id for item in shown]
            exchange.target_rank = ids.index(target) + 1 if target in ids else None
            if exchange.target_rank is not None:
                record.outcome, record.success_turn = "success", turn
                break
            context = SimulatorContext(
                turn=turn + 1,
                agent_reply=response.reply,
                shown=shown,
                transcript=[
                    *context.transcript,
                    DialogueLine(role="user", text=said.utterance),
                    DialogueLine(role="agent", text=response.reply),
                ],
            )
    except SimulatorError as exc:
        record.outcome, record.error = "error", str(exc)
        record.simulator_calls += exc.llm_calls
    except Exception as exc:  # one broken conversation must not end a long run; it is reported
        logger.exception("conversation %d failed", index)
        record.outcome, record.error = "error", f"{type(exc).__name__}: {exc}"
    return record


async def evaluate_freeform(
    agent: ConversationalRecommender,
    simulator: UserSimulator,
    goals: Sequence[SimulationGoal],
    *,
    config: FreeformConfig | None = None,
    progress: Callable[[ConversationRecord], None] | None = None,
) -> FreeformReport:
    """Run one conversation per goal (at most ``config.concurrency`` at once) and report."""
    config = config or FreeformConfig(n_users=max(1, len(goals)))
    started = time.perf_counter()
    gate = asyncio.Semaphore(config.concurrency)

    async def one(index: int, goal: SimulationGoal) -> ConversationRecord:
        async with gate:
            record = await converse(agent, simulator, goal, max_turns=config.max_turns, index=index)
        if progress is not None:
            progress(record)
        return record

    records = list(await asyncio.gather(*(one(i, g) for i, g in enumerate(goals))))
    return build_report(records, config, simulator.name, agent.brain.name, time.perf_counter() - started)


def build_report(
    records: Sequence[ConversationRecord],
    config: FreeformConfig,
    simulator: str,
    agent_brain: str,
    elapsed_s: float,
) -> FreeformReport:
    """Aggregate conversation records into a :class:`FreeformReport`."""
    done = [r for r in records if r.outcome != "error"]
    n = len(done)
    wins = [r.success_turn for r in done if r.success_turn is not None]
    sr_at_turn = {
        t: (sum(1 for w in wins if w <= t) / n if n else 0.0) for t in range(1, config.max_turns + 1)
    }
    return FreeformReport(
        simulator=simulator,
        agent_brain=agent_brain,
        config=config,
        n_conversations=len(records),
        n_errors=len(records) - n,
        success_rate=len(wins) / n if n else 0.0,
        sr_at_turn=sr_at_turn,
        average_turns=float(np.mean([len(r.turns) for r in done])) if done else 0.0,
        average_turns_to_success=float(np.mean(wins)) if wins else None,
        leaks=sum(r.leaks for r in records),
        leak_retries=sum(r.leak_retries for r in records),
        false_accepts=sum(1 for r in records if r.outcome == "false_accept"),
        left=sum(1 for r in records if r.outcome == "left"),
        simulator_calls=sum(r.simulator_calls for r in records),
        agent_calls=sum(r.agent_calls for r in records),
        elapsed_s=round(elapsed_s, 3),
        conversations=list(records),
    )


def run_freeform(
    agent: ConversationalRecommender,
    simulator: UserSimulator,
    goals: Sequence[SimulationGoal],
    *,
    config: FreeformConfig | None = None,
    progress: Callable[[ConversationRecord], None] | None = None,
) -> FreeformReport:
    """Blocking :func:`evaluate_freeform` (for scripts and the CLI)."""
    return asyncio.run(evaluate_freeform(agent, simulator, goals, config=config, progress=progress))
