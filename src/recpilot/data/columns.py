"""Column names used across recpilot tables (one place, never string literals elsewhere)."""

from __future__ import annotations

from typing import Final


class Columns:
    """Standard column names.

    Interaction tables inside a :class:`~recpilot.data.Dataset` use internal indices (``USER_IDX``,
    ``ITEM_IDX``); tables read from files use external ids (``USER``, ``ITEM``).
    """

    USER: Final = "user_id"
    ITEM: Final = "item_id"
    USER_IDX: Final = "user_idx"
    ITEM_IDX: Final = "item_idx"
    RATING: Final = "rating"
    TIMESTAMP: Final = "timestamp"
    TITLE: Final = "title"
    TEXT: Final = "text"
