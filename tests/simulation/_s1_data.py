"""Small synthetic datasets with known structure for the simulation tests (S1)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recpilot.data.dataset import Dataset

GENRES = ("Drama", "Comedy", "Horror", "Western")


def clustered_dataset(n_users: int = 80, n_items: int = 160, per_user: int = 24, seed: int = 0) -> Dataset:
    """Users of four taste clusters; each mostly rates (highly) items of its own genre."""
    rng = np.random.default_rng(seed)
    item_genre = np.arange(n_items) % len(GENRES)
    rows = []
    for u in range(n_users):
        cluster = u % len(GENRES)
        own = np.flatnonzero(item_genre == cluster)
        other = np.flatnonzero(item_genre != cluster)
        n_own = int(per_user * 0.8)
        picks = np.concatenate(
            [rng.choice(own, n_own, replace=False), rng.choice(other, per_user - n_own, replace=False)]
        )
        for t, item in enumerate(rng.permutation(picks).tolist()):
            liked = item_genre[item] == cluster
            rating = float(np.clip(np.round(rng.normal(4.2 if liked else 2.3, 0.6) * 2), 1, 10) / 2)
            rows.append((u + 1, item + 1, rating, t))
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    items = pd.DataFrame(
        {
            "item_id": np.arange(1, n_items + 1),
            "title": [f"Item {i}" for i in range(1, n_items + 1)],
            "genres": [[GENRES[g]] for g in item_genre.tolist()],
        }
    )
    return Dataset.from_frames(interactions, items, name="clustered")
