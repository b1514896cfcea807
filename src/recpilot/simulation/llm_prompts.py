"""What the LLM user simulator is told and what it must answer: bounded memory, prompts, typed answers.

The prompt never holds a persona's whole history. :func:`retrieve_memory` picks the past items most
similar to the current page (overlap of attribute values such as genres) plus the most recent ones,
capped in items and characters, so a prompt's size does not grow with the user's history.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.simulation.types import Page, PageDecision, Persona, SessionRecord, ShownItem, UserState

PAGE_INSTRUCTIONS = """\
You simulate one real person browsing a recommender system. Stay in character: decide as this person \
would, from their taste, habits and current mood, not as a helpful assistant.
For the page you are shown, answer with:
- clicked: the items you open, by their exact item_id from the page (may be empty), each with the \
rating you would give after watching it (on the stated scale) and a short reason;
- last_position_viewed: the position of the last item you looked at before deciding (items below it \
were not examined), or null if you looked at the whole page;
- leave: true if you stop browsing after this page;
- satisfaction: how satisfied you are now, from 0 to 1;
- reason: one sentence on why.
Only use item_ids that appear on the page."""

INTERVIEW_INSTRUCTIONS = """\
You simulate one real person who has just finished a browsing session on a recommender system. \
Answer the interviewer in character: why you stayed or left, how satisfied you are (0 to 1), \
which items you liked and which you disliked (exact item_ids from the session only)."""


INSTRUCTION_INSTRUCTIONS = """\
You simulate one real person who is about to leave a recommender system because the pages did not \
suit them. In character, tell the recommender in one short instruction (at most 12 words) what it \
should change, naming a genre, for example "no more horror films" or "more comedy films"."""


class MemoryItem(BaseModel):
    """A past item recalled into the prompt.

    Attributes:
        item_id: External id.
        title: Its title ("" when the catalog has none).
        attributes: Its attribute values.
        rating: The rating given in the simulation, if any.
        recent: Whether it was picked as one of the most recent items (else as similar to the page).
    """

    model_config = ConfigDict(extra="forbid")

    item_id: str
    title: str = ""
    attributes: dict[str, list[str]] = Field(default_factory=dict)
    rating: float | None = None
    recent: bool = False


def catalog_items(dataset: Dataset, attributes: Sequence[str] | None = None) -> dict[str, ShownItem]:
    """Title and list-valued attributes of every catalog item, by external id (for memory retrieval).

    Args:
        dataset: The dataset whose catalog to read.
        attributes: The list-valued columns to keep (default: every list-valued column).
    """
    catalog = dataset.catalog
    names = list(attributes) if attributes is not None else dataset.attribute_columns
    list_columns = [c for c in names if c in catalog and _is_list_column(catalog[c])]
    titles = catalog[Columns.TITLE].fillna("").astype(str).tolist() if Columns.TITLE in catalog else None
    columns = {c: catalog[c].tolist() for c in list_columns}
    items: dict[str, ShownItem] = {}
    for row, item_id in enumerate(catalog[Columns.ITEM].astype(str).tolist()):
        values = {c: [str(v) for v in column[row]] for c, column in columns.items() if _nonempty(column[row])}
        title = titles[row] if titles is not None else ""
        items[item_id] = ShownItem(item_id=item_id, position=0, title=title, attributes=values)
    return items


def _is_list_column(column: pd.Series) -> bool:
    present = column.dropna()
    return bool(len(present)) and isinstance(present.iloc[0], list | tuple)


def _nonempty(value: object) -> bool:
    return isinstance(value, list | tuple) and len(value) > 0


def retrieve_memory(
    persona: Persona,
    state: UserState,
    page: Page,
    catalog: Mapping[str, ShownItem],
    *,
    similar: int,
    recent: int,
    max_chars: int,
) -> list[MemoryItem]:
    """The bounded memory for one prompt: the most recent items plus those most similar to the page.

    Similarity is the overlap of an item's attribute values with the page's (each shared value counts
    as often as it occurs on the page, divided by the square root of the item's value count); ties go
    to the more recent item. Items consumed in the simulation come after the real history.

    Args:
        persona: The simulated user (its ``history`` is the real past).
        state: The simulation state (``consumed`` and ``ratings`` add to the past).
        page: The page about to be shown.
        catalog: Titles and attributes of items by id (unknown ids are recalled by id only).
        similar: How many similar items at most.
        recent: How many recent items at most.
        max_chars: The most characters the rendered memory may take (least relevant items dropped).
    """
    past = list(dict.fromkeys([*persona.history, *state.consumed]))
    page_ids = {item.item_id for item in page.items}
    page_values: Counter[str] = Counter(
        f"{name}={value}"
        for item in page.items
        for name, values in item.attributes.items()
        for value in values
    )
    recent_ids = past[-recent:] if recent > 0 else []
    scored: list[tuple[float, int, str]] = []
    for order, item_id in enumerate(past):
        if item_id in recent_ids or item_id in page_ids:
            continue
        known = catalog.get(item_id)
        values = [f"{n}={v}" for n, vs in known.attributes.items() for v in vs] if known else []
        overlap = sum(page_values[v] for v in values)
        if overlap > 0:
            scored.append((overlap / math.sqrt(len(values)), order, item_id))
    scored.sort(key=lambda t: (-t[0], -t[1]))
    chosen = [(item_id, False) for _, _, item_id in scored[: max(similar, 0)]]
    # Most relevant first, so the character cap drops the least relevant: similar, then recent (newest first).
    ordered = chosen + [(item_id, True) for item_id in reversed(recent_ids)]
    memory: list[MemoryItem] = []
    used = 0
    for item_id, is_recent in ordered:
        known = catalog.get(item_id)
        item = MemoryItem(
            item_id=item_id,
            title=known.title if known else "",
            attributes=dict(known.attributes) if known else {},
            rating=state.ratings.get(item_id),
            recent=is_recent,
        )
        size = len(memory_line(item)) + 1
        if used + size > max_chars:
            continue
        memory.append(item)
        used += size
    return memory


def memory_line(item: MemoryItem) -> str:
    """One recalled item as a prompt line."""
    described = _describe(item.item_id, item.title, item.attributes)
    rated = f"; you rated it {item.rating:g}" if item.rating is not None else ""
    return f"- {described}{rated}"


def page_prompt(
    persona: Persona,
    state: UserState,
    page: Page,
    memory: Sequence[MemoryItem],
    rating_range: tuple[float, float],
) -> str:
    """The user prompt for one page: who you are, what you remember, how you feel, the page."""
    low, high = rating_range
    lines = [
        "## Who you are",
        persona.description or "A regular user of the service.",
        f"Habits: activity {persona.activity:.2f}, conformity {persona.conformity:.2f}, taste diversity "
        f"{persona.diversity:.2f} (0 = low, 1 = high). You rate {persona.rating_mean:.1f} on average "
        f"(spread {persona.rating_std:.1f}) on a scale from {low:g} to {high:g}.",
        "",
        "## What you remember",
        *(memory_line(item) for item in memory),
        *(() if memory else ("- nothing in particular",)),
        "",
        "## Right now",
        f"Session {page.session + 1}, page {page.index + 1}. Satisfaction so far {state.satisfaction:.2f}, "
        f"fatigue {state.fatigue:.2f} (0 to 1).",
        "",
        "## The page",
        *(f"{item.position}. {_describe(item.item_id, item.title, item.attributes)}" for item in page.items),
    ]
    return "\n".join(lines)


def interview_prompt(persona: Persona, record: SessionRecord, satisfaction: float) -> str:
    """The user prompt of the post-session interview: the persona and what happened, page by page."""
    lines = ["## Who you are", persona.description or "A regular user of the service.", "", "## Your session"]
    for page, decision in zip(record.pages, record.decisions, strict=False):
        titles = {item.item_id: item.title or item.item_id for item in page.items}
        done = [
            f"{a.kind} [{a.item_id}] {titles.get(a.item_id or '', '')}"
            + (f" rated {a.rating:g}" if a.rating is not None else "")
            for a in decision.actions
            if a.kind in ("click", "rate")
        ]
        lines.append(
            f"Page {page.index + 1}: shown {', '.join(f'[{i}]' for i in titles)}; "
            + ("; ".join(done) if done else "nothing opened")
            + ("; then you left" if decision.leave else "")
        )
    stayed = record.exit_page is None
    lines += [
        "",
        f"You {'stayed to the end' if stayed else 'left early'}; satisfaction {satisfaction:.2f}.",
        "Why did you stay or leave, how satisfied are you, what did you like and dislike?",
    ]
    return "\n".join(lines)


def instruction_prompt(
    persona: Persona, pages: Sequence[Page], decisions: Sequence[PageDecision], suggestion: str
) -> str:
    """The user prompt of a reflective instruction: the persona, the pages with genres, a hint."""
    lines = ["## Who you are", persona.description or "A regular user of the service.", "", "## Your session"]
    for page, decision in zip(pages, decisions, strict=False):
        opened = {a.item_id for a in decision.actions if a.kind == "click"}
        shown = "; ".join(
            _describe(i.item_id, i.title, i.attributes) + (" (opened)" if i.item_id in opened else "")
            for i in page.items
        )
        lines.append(f"Page {page.index + 1}: {shown}")
    lines += ["", f"You are about to leave. What one might say here: {suggestion!r}. Your instruction?"]
    return "\n".join(lines)


def _describe(item_id: str, title: str, attributes: Mapping[str, Sequence[str]]) -> str:
    details = "; ".join(f"{name}: {', '.join(values)}" for name, values in attributes.items() if values)
    return f"[{item_id}] {title or '(untitled)'}" + (f" ({details})" if details else "")


__all__ = [
    "INSTRUCTION_INSTRUCTIONS",
    "INTERVIEW_INSTRUCTIONS",
    "PAGE_INSTRUCTIONS",
    "MemoryItem",
    "catalog_items",
    "instruction_prompt",
    "interview_prompt",
    "memory_line",
    "page_prompt",
    "retrieve_memory",
]
