"""Small datasets whose right answers are known in advance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recpilot.data.dataset import Dataset


@dataclass(frozen=True)
class KnownAnswer:
    """A block-structured dataset and its ground truth.

    Users fall into ``n_groups`` taste groups; each group consumes its own ``items_per_group`` items,
    and each user misses exactly one of them. Any sensible personalised model must recommend a user's
    missing group item first, and must find an item's neighbours inside its group.

    Attributes:
        dataset: The dataset (external ids: users ``"u0"...``, items ``100...``).
        group_of_item: External item id -> group.
        group_of_user: External user id -> group.
        missing_item: External user id -> the one group item that user has not seen.
    """

    dataset: Dataset
    group_of_item: dict[int, int]
    group_of_user: dict[str, int]
    missing_item: dict[str, int]

    def group_items(self, group: int) -> list[int]:
        """External ids of the items of ``group``."""
        return sorted(item for item, g in self.group_of_item.items() if g == group)


def known_answer_dataset(
    n_groups: int = 6, items_per_group: int = 6, users_per_group: int = 12, seed: int = 0
) -> KnownAnswer:
    """Build the block-structured dataset described in :class:`KnownAnswer`.

    Group ``g`` is made more popular than group ``g+1`` (more users), so popularity is not uniform and
    the cold-start order is known too. Timestamps are increasing per user; the missing item rotates.
    """
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, int, float, int]] = []
    group_of_item: dict[int, int] = {}
    group_of_user: dict[str, int] = {}
    missing: dict[str, int] = {}
    titles: list[tuple[int, str, str, str]] = []
    for g in range(n_groups):
        items = [100 + g * items_per_group + j for j in range(items_per_group)]
        for j, item in enumerate(items):
            group_of_item[item] = g
            titles.append((item, f"Item {item} (group {g})", f"genre{g}", f"group {g} story number {j}"))
        n_users = users_per_group + (n_groups - g)  # earlier groups have more users
        for u in range(n_users):
            user = f"u{g}_{u}"
            group_of_user[user] = g
            skip = items[u % items_per_group]
            missing[user] = skip
            seen = [i for i in items if i != skip]
            rng.shuffle(seen)
            for t, item in enumerate(seen):
                rows.append((user, item, float(rng.integers(3, 6)), 1_000 + t))
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    items_df = pd.DataFrame(titles, columns=["item_id", "title", "genres", "text"])
    items_df["genres"] = items_df["genres"].map(lambda g: [g])
    dataset = Dataset.from_frames(interactions, items_df, name="known-answer")
    return KnownAnswer(dataset, group_of_item, group_of_user, missing)
