"""The typed dialogue state of a conversational-recommendation session.

One :class:`DialogueState` per session is shared by the ask-or-recommend policies, the critique
handling, the agent and the benchmarks. Attributes are written ``field=value`` (``genres=Horror``,
``tag=69``), items by their external id as text, so the same state serialises to JSON unchanged.

The models are defined in :mod:`recpilot.memory.dialogue` because the memory layer (below this one)
persists them (:meth:`recpilot.memory.ProfileMemory.save_dialogue_state`); this module is their
public home for conversational code.
"""

from recpilot.memory.dialogue import ActionKind, Critique, CritiqueKind, DialogueState

__all__ = ["ActionKind", "Critique", "CritiqueKind", "DialogueState"]
