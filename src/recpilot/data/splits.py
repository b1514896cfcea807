"""Seeded train/test splits: leave-last-out, global temporal, random per-user holdout, random exposure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError

Protocol = Literal["leave-last-out", "temporal", "latest-per-user", "random"]
PROTOCOLS: tuple[Protocol, ...] = ("leave-last-out", "temporal", "latest-per-user", "random")


@dataclass(frozen=True, eq=False)
class Split:
    """A train dataset and held-out test interactions over the same id maps.

    Attributes:
        train: The training dataset (same users, items and catalog as the source).
        test: Held-out interactions (``user_idx``, ``item_idx``, ``rating``, ``timestamp``).
        protocol: How the split was made, for reports.
    """

    train: Dataset
    test: pd.DataFrame
    protocol: str

    @property
    def test_users(self) -> npt.NDArray[np.int64]:
        """Internal indices of users with at least one held-out interaction, sorted."""
        return np.unique(self.test[Columns.USER_IDX].to_numpy()).astype(np.int64)

    def truth(self) -> sp.csr_matrix:
        """Held-out relevance as a binary CSR matrix with one row per :attr:`test_users` entry."""
        users = self.test_users
        rows = np.searchsorted(users, self.test[Columns.USER_IDX].to_numpy())
        matrix = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, self.test[Columns.ITEM_IDX].to_numpy())),
            shape=(len(users), self.train.n_items),
        )
        matrix.data[:] = 1.0  # duplicates collapse to one relevant item
        return matrix


def leave_last_out(dataset: Dataset, *, min_history: int = 1) -> Split:
    """Hold out each user's last interaction (by timestamp, ties by file order).

    Users with fewer than ``min_history + 1`` interactions stay entirely in train.
    """
    indptr, _ = dataset.sequences
    order = _time_order(dataset)
    counts = np.diff(indptr)
    last_positions = order[indptr[1:][counts > min_history] - 1]
    test_mask = np.zeros(dataset.n_interactions, dtype=bool)
    test_mask[last_positions] = True
    return _make_split(dataset, test_mask, "leave-last-out")


def temporal_split(dataset: Dataset, *, test_fraction: float = 0.2) -> Split:
    """Hold out the globally latest ``test_fraction`` of interactions (one cut-off time for everyone)."""
    _check_fraction(test_fraction)
    timestamps = dataset.interactions[Columns.TIMESTAMP].to_numpy()
    cutoff = np.quantile(timestamps, 1.0 - test_fraction, method="higher")
    test_mask = timestamps >= cutoff
    if test_mask.all():
        raise ConfigError("temporal split: all interactions share one timestamp; use the random protocol")
    return _make_split(dataset, test_mask, "temporal")


def latest_per_user(dataset: Dataset, *, test_fraction: float = 0.2) -> Split:
    """Hold out each user's latest ``test_fraction`` of interactions (by timestamp; one stays in train).

    A temporal hold-out that keeps every user with two or more interactions in the test, unlike the
    global cut-off of :func:`temporal_split`, which on small logs leaves few test users.
    """
    table = dataset.interactions
    # latest first; ties by file order, reversed (so the same rows as the latest in time order)
    latest_first = np.lexsort(
        (-np.arange(len(table)), -table[Columns.TIMESTAMP].to_numpy(), table[Columns.USER_IDX].to_numpy())
    )
    return _per_user_holdout(
        dataset,
        latest_first,
        test_fraction,
        at_least_one=True,
        protocol=f"latest-per-user({test_fraction:g})",
    )


def random_holdout(dataset: Dataset, *, test_fraction: float = 0.2, seed: int = 42) -> Split:
    """Hold out a random ``test_fraction`` of each user's interactions (at least one stays in train)."""
    users = dataset.interactions[Columns.USER_IDX].to_numpy()
    keys = np.random.default_rng(seed).random(len(users))
    shuffled = np.lexsort((keys, users))
    return _per_user_holdout(
        dataset, shuffled, test_fraction, at_least_one=False, protocol=f"random(seed={seed})"
    )


def _per_user_holdout(
    dataset: Dataset,
    order: npt.NDArray[np.int64],
    test_fraction: float,
    *,
    at_least_one: bool,
    protocol: str,
) -> Split:
    """Hold out the first ``floor(n * test_fraction)`` of each user's ``n`` interactions in ``order``.

    ``order`` lists the interaction rows grouped by user (ascending user index). At least one
    interaction of each user stays in train; with ``at_least_one`` every user with two or more gives
    one to the test even when the fraction rounds down to none.
    """
    _check_fraction(test_fraction)
    counts = np.bincount(dataset.interactions[Columns.USER_IDX].to_numpy(), minlength=dataset.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank_in_user = np.arange(len(order)) - np.repeat(starts, counts)
    n_test = np.minimum(np.floor(counts * test_fraction).astype(np.int64), np.maximum(counts - 1, 0))
    if at_least_one:
        n_test = np.where((counts >= 2) & (n_test == 0), 1, n_test)
    test_mask = np.zeros(len(order), dtype=bool)
    test_mask[order] = rank_in_user < np.repeat(n_test, counts)
    return _make_split(dataset, test_mask, protocol)


#: Key of a random-exposure test table in :attr:`Dataset.extra` (set by the random-exposure loaders).
RANDOM_EXPOSURE_TEST = "random_exposure_test"


def has_random_exposure(dataset: Dataset) -> bool:
    """Whether ``dataset`` carries a test of ratings on randomly shown items."""
    return isinstance(dataset.extra.get(RANDOM_EXPOSURE_TEST), pd.DataFrame)


def random_exposure_split(dataset: Dataset) -> Split:
    """All logged interactions as train, the ratings of randomly shown items as test (unbiased).

    Raises:
        ConfigError: ``dataset`` has no random-exposure test (only Coat and Yahoo! R3 folders do).
    """
    if not has_random_exposure(dataset):
        raise ConfigError(
            f"dataset {dataset.name!r} has no random-exposure test (load a Coat or Yahoo! R3 folder)"
        )
    test: pd.DataFrame = dataset.extra[RANDOM_EXPOSURE_TEST]
    return Split(train=dataset, test=test.reset_index(drop=True), protocol="random-exposure")


def split_dataset(dataset: Dataset, protocol: str, *, test_fraction: float = 0.2, seed: int = 42) -> Split:
    """Split by protocol name (``leave-last-out``, ``temporal``, ``latest-per-user`` or ``random``)."""
    if protocol == "leave-last-out":
        return leave_last_out(dataset)
    if protocol == "temporal":
        return temporal_split(dataset, test_fraction=test_fraction)
    if protocol == "latest-per-user":
        return latest_per_user(dataset, test_fraction=test_fraction)
    if protocol == "random":
        return random_holdout(dataset, test_fraction=test_fraction, seed=seed)
    raise ConfigError(f"unknown split protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")


def _time_order(dataset: Dataset) -> npt.NDArray[np.int64]:
    table = dataset.interactions
    return np.lexsort(
        (np.arange(len(table)), table[Columns.TIMESTAMP].to_numpy(), table[Columns.USER_IDX].to_numpy())
    ).astype(np.int64)


def _make_split(dataset: Dataset, test_mask: npt.NDArray[np.bool_], protocol: str) -> Split:
    table = dataset.interactions
    train = dataset.with_interactions(table[~test_mask], name=f"{dataset.name}[train]")
    test = table[test_mask]
    # A test user unseen in train cannot be scored from history; evaluation treats them as cold users.
    return Split(train=train, test=test.reset_index(drop=True), protocol=protocol)


def _check_fraction(fraction: float) -> None:
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"test_fraction must be between 0 and 1 (exclusive), got {fraction}")
