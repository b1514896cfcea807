"""Offline language understanding: a message -> a typed request or dialogue act, from the catalog's own
vocabulary and no model.

The parser (:func:`parse_request`) reads recommendation requests (references, periods, genres and
their negations, counts); :func:`~recpilot.understanding.acts.read_act` reads what a message does in
the conversation (critique, question about a shown item, "more", ...). Both sit below the agent: the
offline brain (:class:`~recpilot.agent.offline.OfflineBrain`) plans from what they read, and the
conversational evaluations use them to read real dialogues.
"""

from recpilot.understanding.parser import parse_request, refine
from recpilot.understanding.request import AttributeChoice, ItemReference, ParsedRequest, PreferenceNote
from recpilot.understanding.vocabulary import CatalogVocabulary

__all__ = [
    "AttributeChoice",
    "CatalogVocabulary",
    "ItemReference",
    "ParsedRequest",
    "PreferenceNote",
    "parse_request",
    "refine",
]
