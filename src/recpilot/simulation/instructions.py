"""Reflective instructions (RecoWorld): a simulated user about to leave says what should change.

When the decision engine decides that a user leaves a session early, dissatisfied (not tired), the
user may, with probability ``instruction_probability`` drawn from the user-session seed, give one
short instruction per session, grounded in the session:

- **fewer of what disappointed**: of the genres outside the persona's taste (less than
  :data:`TASTE_SHARE` of the genres of its history), the one most over-represented among the items
  shown and not liked (skipped, viewed without a click, or clicked and disliked) relative to its taste
  share, when that excess is at least :data:`MIN_EXCESS`: "no more horror films";
- otherwise **more of what was missing**: the persona's favourite taste genre that the pages showed
  less than its taste share: "more comedy films";
- otherwise nothing (the pages showed the persona's taste and it still left: no instruction helps).

Both phrasings are feed commands the agent's offline brain parses ("no more X" excludes, "more X"
boosts). An engine may reword the text (:meth:`DecisionEngine.ainstruction`; the LLM engine lets the
persona's model write it); the rule-based text is the fallback.

A recommender that takes instructions (:class:`~recpilot.simulation.environment.InstructableRecommender`)
hears it; when it acted on it (the agent stored a feed rule), the user withdraws the leave and stays
for another page, whose decision is made as usual (the user may still leave after it). A recommender
that cannot take instructions leaves the instruction unheard and the user leaves as decided.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from recpilot.simulation.engine import DecisionEngine
from recpilot.simulation.environment import InstructableRecommender, RecommenderUnderTest
from recpilot.simulation.persona import SimulatedUser
from recpilot.simulation.types import (
    Instruction,
    Page,
    PageDecision,
    Persona,
    SessionRecord,
    SimulationConfig,
    UserState,
)

#: Share of the genres of a persona's history from which a genre is part of its taste.
TASTE_SHARE = 0.2

#: Least excess share of a genre among the disappointing items over the persona's taste for "no more".
MIN_EXCESS = 0.15

GenresOf = Callable[[str], list[str]]


def gives_instruction(seed: int, page: int, probability: float) -> bool:
    """Whether the user of session ``seed`` gives an instruction after ``page`` (a seeded draw)."""
    if probability >= 1.0:
        return True
    if probability <= 0.0:
        return False
    # a stream of its own, so the engine's page draws stay the same with instructions on or off
    return bool(np.random.default_rng([seed, page, 0x5EF1EC7]).random() < probability)


def may_instruct(
    config: SimulationConfig, record: SessionRecord, decision: PageDecision, seed: int, page: int
) -> bool:
    """Whether a user leaving after ``page`` gives an instruction: instructions on, the session's first,
    a dissatisfied (not tired) leave, and the seeded draw of ``instruction_probability``."""
    return (
        config.instructions
        and record.instruction is None
        and not any(a.kind == "leave" and a.reason == "tired" for a in decision.actions)
        and gives_instruction(seed, page, config.instruction_probability)
    )


async def hear_instruction(
    engine: DecisionEngine,
    recommender: RecommenderUnderTest,
    user: SimulatedUser,
    state: UserState,
    record: SessionRecord,
    decision: PageDecision,
    *,
    genres_of: GenresOf,
    timeout_s: float,
    fatal: tuple[type[BaseException], ...],
) -> PageDecision:
    """Let the leaving user instruct the recommender; return the page's decision, the leave withdrawn
    when the recommender acted on it.

    The instruction is recorded on ``record`` (with the page of ``record.pages[-1]``); failures of the
    engine (the rule's text stands in) and of the recommender (unheard) are recorded in its errors,
    except the ``fatal`` ones, which propagate.
    """
    persona, pages = user.persona, record.pages
    decisions = [*record.decisions, decision]
    suggestion = reflective_instruction(persona, pages, decisions, genres_of)
    if suggestion is None:
        return decision
    try:
        text = await engine.ainstruction(persona, state, pages, decisions, suggestion)
    except fatal:
        raise
    except Exception as exc:  # the rule-based text stands in, recorded
        record.errors.append(f"engine {engine.name!r} instruction failed: {type(exc).__name__}: {exc}")
        text = suggestion
    acted = False
    if isinstance(recommender, InstructableRecommender):
        try:
            acted = await asyncio.wait_for(
                recommender.ainstruct(user.sim_id, persona.user_id, text), timeout_s
            )
        except Exception as exc:  # the recommender's fault is data, not a crash
            record.errors.append(f"recommender instruction failed: {type(exc).__name__}: {exc}")
    record.instruction = Instruction(page=pages[-1].index, text=text, acted_on=bool(acted))
    if not acted:
        return decision
    actions = [a for a in decision.actions if a.kind != "leave"]
    return decision.model_copy(update={"leave": False, "actions": actions})


def reflective_instruction(
    persona: Persona, pages: Sequence[Page], decisions: Sequence[PageDecision], genres_of: GenresOf
) -> str | None:
    """The rule-based instruction of a user about to leave (see the module docstring), or ``None``.

    Args:
        persona: The simulated user (its history is its taste).
        pages: The session's pages so far.
        decisions: The user's decisions on them.
        genres_of: Genres of an item by external id.
    """
    taste = _shares(g for item in persona.history for g in genres_of(item))
    if not taste:
        return None
    liked = _liked(persona, decisions)
    shown = [s.item_id for page in pages for s in page.items]
    disappointing = _shares(g for item in shown if item not in liked for g in genres_of(item))
    if disappointing:
        excess = {
            g: share - taste.get(g, 0.0)
            for g, share in disappointing.items()
            if taste.get(g, 0.0) < TASTE_SHARE
        }
        worst = max(sorted(excess), key=lambda g: excess[g]) if excess else None
        if worst is not None and excess[worst] >= MIN_EXCESS:
            return f"no more {worst.lower()} films"
    on_pages = _shares(g for item in shown for g in genres_of(item))
    missing = [
        g
        for g in sorted(taste, key=lambda g: (-taste[g], g))
        if taste[g] >= TASTE_SHARE and on_pages.get(g, 0.0) < taste[g]
    ]
    return f"more {missing[0].lower()} films" if missing else None


def _shares(genres: Iterable[str]) -> dict[str, float]:
    counts = Counter(g for g in genres if g and not g.startswith("("))  # "(no genres listed)" is no genre
    total = sum(counts.values())
    return {g: c / total for g, c in counts.items()} if total else {}


def _liked(persona: Persona, decisions: Sequence[PageDecision]) -> set[str]:
    """Items the user clicked and rated at or above its own mean (a click without a rating counts)."""
    liked: set[str] = set()
    for decision in decisions:
        rated = {a.item_id: a.rating for a in decision.actions if a.kind == "rate"}
        for action in decision.actions:
            if action.kind == "click" and action.item_id is not None:
                rating = rated.get(action.item_id)
                if rating is None or rating >= persona.rating_mean:
                    liked.add(action.item_id)
    return liked
