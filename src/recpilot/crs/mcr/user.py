"""The simulated user of the MCR protocol: holds one target item and answers truthfully."""

from __future__ import annotations

import numpy as np

from recpilot.conversation.policy.base import Ask, Recommend
from recpilot.conversation.policy.space import AttributeSpace
from recpilot.conversation.state import DialogueState
from recpilot.errors import UnknownIdError


class SimulatedUser:
    """A user who wants ``target`` and knows its attributes (SCPR / UNICORN / MCMIPL user simulator).

    The user opens by stating one of the target's attributes (chosen with ``rng``), accepts exactly the
    asked attributes the target has (all that apply in a multiple-choice question), and rejects every
    recommended list that misses the target.

    Args:
        space: The attribute space.
        target: External id of the target item.
        rng: Random generator for the opening attribute.
    """

    def __init__(self, space: AttributeSpace, target: str, rng: np.random.Generator) -> None:
        if space.item_positions([target])[0] < 0:
            raise UnknownIdError("item", [target], "the target must be an item of the attribute space")
        self.target = target
        self.attributes = frozenset(space.attributes_of(target))
        self._rng = rng

    def opening(self) -> str | None:
        """The attribute the user states first (None when the target has none)."""
        if not self.attributes:
            return None
        return str(self._rng.choice(sorted(self.attributes)))

    def answer(self, question: Ask) -> tuple[list[str], list[str]]:
        """The asked attributes split into (accepted, rejected), truthfully."""
        accepted = [a for a in question.attributes if a in self.attributes]
        rejected = [a for a in question.attributes if a not in self.attributes]
        return accepted, rejected

    def rank_of_target(self, recommendation: Recommend) -> int:
        """1-based position of the target in the list, 0 when it is missing."""
        try:
            return recommendation.item_ids.index(self.target) + 1
        except ValueError:
            return 0

    def respond(self, action: Ask | Recommend, state: DialogueState, *, record_negatives: bool = True) -> int:
        """Apply the user's answer to ``state``; returns the target's rank for a hit, else 0.

        With ``record_negatives`` False the state keeps what was asked and shown but not the "no"
        answers nor the rejected items (the ablation that hides negative feedback from the policy).
        """
        if isinstance(action, Ask):
            accepted, rejected = self.answer(action)
            for name in accepted:
                state.accept_attribute(name)
            for name in rejected:
                if record_negatives:
                    state.reject_attribute(name)
                elif name not in state.asked:
                    state.asked.append(name)
            state.last_action = "ask"
            return 0
        state.record_shown(action.item_ids)
        rank = self.rank_of_target(action)
        if rank:
            state.accept_item(self.target)
            return rank
        if record_negatives:
            for item in action.item_ids:
                state.reject_item(item)
        return 0
