"""The one recommend -> filter -> explain pipeline (see :mod:`recpilot.ranking.pipeline`).

``ItemList`` in and out: the agent's ranking tool, ``/v1/recommend``, MCP ``recommend`` and
``recpilot recommend`` all rank through :class:`Ranking`, and every explanation is worded by
:mod:`recpilot.ranking.words`.
"""

from recpilot.ranking.adjusters import RankingContext, ScoreAdjuster, only_drops
from recpilot.ranking.catalog import Catalog
from recpilot.ranking.pipeline import Ranking
from recpilot.ranking.request import RankingRequest, ids_as_text, likes_of, role_of
from recpilot.ranking.words import CATALOG_RANKINGS, explanation, why_sentence

__all__ = [
    "CATALOG_RANKINGS",
    "Catalog",
    "Ranking",
    "RankingContext",
    "RankingRequest",
    "ScoreAdjuster",
    "explanation",
    "ids_as_text",
    "likes_of",
    "only_drops",
    "role_of",
    "why_sentence",
]
