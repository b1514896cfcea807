"""Score adjusters: the pluggable step between scoring and top-k (feed rules, critiques).

An adjuster receives every eligible item's score and returns the scores it keeps (an item left out is
dropped) and moves. The agent installs the user's feed rules and the session's critiques this way
(:func:`recpilot.conversation.feed.feed_adjuster`, :func:`recpilot.conversation.critiques.critique_adjuster`);
the service and the CLI install the feed rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from recpilot.models.base import Recommender
from recpilot.ranking.catalog import Catalog
from recpilot.types import ItemId


class RankingContext(Protocol):
    """What an adjuster may read: the catalog and the fitted models by role.

    :class:`~recpilot.ranking.Ranking` and :class:`~recpilot.tools.ToolContext` both are one.
    """

    @property
    def catalog(self) -> Catalog:
        """The catalog being ranked."""
        ...

    @property
    def models(self) -> Mapping[str, Recommender[Any]]:
        """Fitted recommenders by role (``collaborative``, ``content``, ``sequential``)."""
        ...


class ScoreAdjuster(Protocol):
    """Changes a ranking's scores before the pipeline keeps its top k: drops items (a value left out of
    the result) and moves others.

    An adjuster with a true ``only_drops`` attribute promises never to lift one item over another (it
    drops items and rescales the rest monotonically); the pipeline then adjusts a widening head of the
    ranking instead of the whole catalog.
    """

    def __call__(self, ctx: RankingContext, scores: dict[ItemId, float], /) -> dict[ItemId, float]:
        """The adjusted scores (item id -> score; higher is better)."""
        ...


def only_drops(adjuster: ScoreAdjuster) -> bool:
    """Whether ``adjuster`` promises to only drop items (see :class:`ScoreAdjuster`)."""
    return bool(getattr(adjuster, "only_drops", False))
