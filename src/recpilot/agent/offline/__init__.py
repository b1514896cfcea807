"""The offline brain: the embedded default, understanding requests from the catalog's own vocabulary."""

from recpilot.agent.offline.brain import OfflineBrain
from recpilot.agent.offline.parser import parse_request, refine
from recpilot.agent.offline.request import AttributeChoice, ItemReference, ParsedRequest, PreferenceNote
from recpilot.agent.offline.vocabulary import CatalogVocabulary

__all__ = [
    "AttributeChoice",
    "CatalogVocabulary",
    "ItemReference",
    "OfflineBrain",
    "ParsedRequest",
    "PreferenceNote",
    "parse_request",
    "refine",
]
