"""What the LLM user simulator must answer, and how an answer is checked and turned into actions.

The model answers (in the endpoint's output mode, see :mod:`recpilot.llm.modes`) with a
:class:`PageAnswer` per page and an :class:`InterviewAnswer` after a session. :func:`page_problems`
and :func:`interview_problems` say why an answer does not fit what was shown (the engine sends that
back to the model);
:func:`to_decision` turns a valid answer into typed actions and :func:`fallback_decision` is the
recorded decision when no valid answer came.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from recpilot.simulation.types import Page, PageDecision, SimAction, UserState

OutputT = TypeVar("OutputT", bound=BaseModel)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClickChoice(_Answer):
    """One item the simulated user opens.

    Attributes:
        item_id: The item's id, exactly as on the page.
        rating: The rating given after consuming it (None: no rating).
        reason: Why, in a few words.
    """

    item_id: str
    rating: float | None = None
    reason: str = ""


class PageAnswer(_Answer):
    """The LLM's typed answer for one page (validated against the page before use).

    Attributes:
        clicked: Items opened, in the order opened.
        last_position_viewed: The last position examined (None: the whole page).
        leave: Whether the user leaves after this page.
        satisfaction: Satisfaction after the page, in [0, 1].
        reason: One sentence on why.
    """

    clicked: list[ClickChoice] = Field(default_factory=list)
    last_position_viewed: int | None = None
    leave: bool = False
    satisfaction: float = Field(ge=0.0, le=1.0)
    reason: str = ""


class InstructionAnswer(_Answer):
    """The LLM's reflective instruction of a user about to leave.

    Attributes:
        instruction: What the recommender should change, in a few words ("no more horror films").
    """

    instruction: str


#: Words a reflective instruction may have at most.
MAX_INSTRUCTION_WORDS = 12


def instruction_problems(answer: InstructionAnswer) -> list[str]:
    """Why an instruction is unusable: empty, or longer than :data:`MAX_INSTRUCTION_WORDS` words."""
    words = answer.instruction.split()
    if not words:
        return ["instruction is empty; say in a few words what the recommender should change"]
    if len(words) > MAX_INSTRUCTION_WORDS:
        return [f"instruction has {len(words)} words; use at most {MAX_INSTRUCTION_WORDS}"]
    return []


class InterviewAnswer(_Answer):
    """The LLM's typed answer to the post-session interview.

    Attributes:
        reason: Why the user stayed or left, in their words.
        satisfaction: Satisfaction at the end of the session, in [0, 1].
        liked: Items of the session the user liked.
        disliked: Items of the session the user disliked.
    """

    reason: str
    satisfaction: float = Field(ge=0.0, le=1.0)
    liked: list[str] = Field(default_factory=list)
    disliked: list[str] = Field(default_factory=list)


def to_decision(answer: PageAnswer, page: Page) -> PageDecision:
    """The typed decision for a validated answer: click (and rate), view or skip per item, then leave."""
    clicked = {choice.item_id: choice for choice in answer.clicked}
    items = sorted(page.items, key=lambda item: item.position)
    positions = [item.position for item in items if item.item_id in clicked]
    last_viewed = answer.last_position_viewed
    if last_viewed is None:
        last_viewed = items[-1].position if items else 0
    last_viewed = max([last_viewed, *positions])
    actions: list[SimAction] = []
    for item in items:
        choice = clicked.get(item.item_id)
        if choice is not None:
            actions.append(
                SimAction(kind="click", item_id=item.item_id, position=item.position, reason=choice.reason)
            )
            if choice.rating is not None:
                actions.append(
                    SimAction(kind="rate", item_id=item.item_id, position=item.position, rating=choice.rating)
                )
        else:
            kind: Literal["view", "skip"] = "view" if item.position <= last_viewed else "skip"
            actions.append(SimAction(kind=kind, item_id=item.item_id, position=item.position))
    if answer.leave:
        actions.append(SimAction(kind="leave", reason=answer.reason))
    return PageDecision(actions=actions, leave=answer.leave, satisfaction=answer.satisfaction)


def fallback_decision(
    page: Page, state: UserState, policy: Literal["skip", "leave"], failure: str
) -> PageDecision:
    """The recorded decision for a page the model gave no usable answer for."""
    reason = f"engine failure: {failure}"
    actions = [
        SimAction(kind="skip", item_id=item.item_id, position=item.position, reason=reason)
        for item in page.items
    ]
    leave = policy == "leave"
    if leave:
        actions.append(SimAction(kind="leave", reason=reason))
    return PageDecision(actions=actions, leave=leave, satisfaction=min(1.0, max(0.0, state.satisfaction)))


def page_problems(answer: PageAnswer, page: Page, rating_range: tuple[float, float]) -> list[str]:
    """Why ``answer`` does not fit ``page`` (empty when it does)."""
    on_page = {item.item_id for item in page.items}
    problems: list[str] = []
    ids = [choice.item_id for choice in answer.clicked]
    unknown = [i for i in ids if i not in on_page]
    if unknown:
        problems.append(f"item_id(s) {unknown} are not on the page; use only {sorted(on_page)}")
    if len(set(ids)) != len(ids):
        problems.append("an item is clicked more than once")
    low, high = rating_range
    off_scale = [c.rating for c in answer.clicked if c.rating is not None and not low <= c.rating <= high]
    if off_scale:
        problems.append(f"rating(s) {off_scale} are outside the scale {low:g} to {high:g}")
    positions = [item.position for item in page.items]
    viewed = answer.last_position_viewed
    if viewed is not None and positions and not min(positions) <= viewed <= max(positions):
        problems.append(f"last_position_viewed {viewed} is not a position on the page")
    return problems


def interview_problems(answer: InterviewAnswer, shown: frozenset[str]) -> list[str]:
    """Why ``answer`` does not fit the session (empty when it does)."""
    unknown = [i for i in [*answer.liked, *answer.disliked] if i not in shown]
    if unknown:
        return [f"item_id(s) {unknown} were not shown in the session; use only shown item_ids"]
    return []


__all__ = [
    "ClickChoice",
    "InterviewAnswer",
    "PageAnswer",
    "fallback_decision",
    "interview_problems",
    "page_problems",
    "to_decision",
]
