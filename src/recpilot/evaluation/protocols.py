"""Ranking protocols: which items each test user's model ranks during evaluation.

- :class:`FullRanking` (the default): every catalog item except the user's training items.
- :class:`SampledNegatives`: the user's relevant items plus ``n_negatives`` sampled items the user
  never interacted with. Sampled figures are systematically higher than full-ranking ones and can
  even reorder models (Krichene & Rendle, 2020), so every report carries the protocol :attr:`label`.

Both are typed configurations (pydantic, unknown keys rejected); :func:`ranking_protocol` parses a
label back into a protocol for the CLI.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from recpilot.data.splits import Split
from recpilot.errors import ConfigError
from recpilot.evaluation.metrics import first_occurrences, membership
from recpilot.models.ranking import top_k

IndexArray = npt.NDArray[np.int64]

_MAX_REJECTION_ROUNDS = 20
_KEY_BUDGET = 2**24  # random keys per block in exact sampling (64 MiB as float32)


class FullRanking(BaseModel):
    """Rank every catalog item (the user's training items are filtered out)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @property
    def label(self) -> str:
        """``"full-ranking"``."""
        return "full-ranking"

    def candidates(self, split: Split, users: IndexArray, truth: sp.csr_matrix) -> None:
        """No candidate restriction: models rank the whole catalog."""
        return None


class SampledNegatives(BaseModel):
    """Rank each user's relevant items among ``n_negatives`` sampled items the user never interacted with.

    Negatives are drawn without replacement from the items in neither the user's training history
    nor their held-out items, uniformly or with probability proportional to training popularity
    (items no training user interacted with are then never drawn). A user with fewer eligible items
    than ``n_negatives`` gets all of them. The draw depends only on ``seed`` and the split, so every
    model in a run, and every run with the same seed, ranks the same candidates.

    Attributes:
        n_negatives: Sampled negatives per user.
        seed: Seed of the sampler.
        weighting: ``"uniform"`` or ``"popularity"``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_negatives: int = Field(default=100, ge=1)
    seed: int = 0
    weighting: Literal["uniform", "popularity"] = "uniform"

    @property
    def label(self) -> str:
        """E.g. ``"sampled-100-uniform"``."""
        return f"sampled-{self.n_negatives}-{self.weighting}"

    def candidates(self, split: Split, users: IndexArray, truth: sp.csr_matrix) -> IndexArray:
        """Candidate items per test user: relevant items first, then the sampled negatives.

        Args:
            split: The split being evaluated (negatives avoid the training history).
            users: Internal indices of the test users, one per row of ``truth``.
            truth: ``(len(users), n_items)`` binary held-out relevance.

        Returns:
            ``(len(users), c)`` internal item indices. Rows shorter than ``c`` repeat their first
            candidate, which changes nothing in the ranking.

        Raises:
            ConfigError: If a row of ``truth`` has no relevant item.
        """
        relevant = sp.csr_matrix(truth, dtype=np.float64)
        n_relevant = np.diff(relevant.indptr)
        if (n_relevant == 0).any():
            raise ConfigError("sampled-negatives evaluation needs at least one relevant item per test user")
        interacted = split.train.matrix("binary")[users] + relevant
        interacted.data[:] = 1.0
        weights = split.train.item_popularity if self.weighting == "popularity" else None
        rng = np.random.default_rng(self.seed)
        negatives = _sample_negatives(sp.csr_matrix(interacted), self.n_negatives, weights, rng)
        positives = _padded_rows(relevant)
        combined = np.concatenate([positives, negatives], axis=1)
        fill = np.broadcast_to(combined[:, :1], combined.shape)
        return np.where(combined >= 0, combined, fill)


RankingProtocol = FullRanking | SampledNegatives
"""Any ranking protocol accepted by :func:`recpilot.evaluation.evaluate`."""

_SAMPLED_LABEL = re.compile(r"sampled-(\d+)(?:-(uniform|popularity))?")


def ranking_protocol(label: str, *, seed: int = 0) -> RankingProtocol:
    """Parse a protocol label (``"full-ranking"``, ``"sampled-100"``, ``"sampled-100-popularity"``).

    Args:
        label: A label as written in reports; ``"sampled-N"`` means uniform sampling.
        seed: Seed for sampled protocols.

    Raises:
        ConfigError: If the label names no protocol.
    """
    if label == "full-ranking":
        return FullRanking()
    match = _SAMPLED_LABEL.fullmatch(label)
    if match is None or int(match.group(1)) < 1:
        raise ConfigError(
            f"unknown ranking protocol {label!r}; use 'full-ranking' or 'sampled-N[-uniform|-popularity]' "
            "with N >= 1, e.g. 'sampled-100-uniform'"
        )
    weighting: Literal["uniform", "popularity"] = "uniform"
    if match.group(2) == "popularity":
        weighting = "popularity"
    return SampledNegatives(n_negatives=int(match.group(1)), seed=seed, weighting=weighting)


def _padded_rows(matrix: sp.csr_matrix) -> IndexArray:
    lengths = np.diff(matrix.indptr)
    out = np.full((matrix.shape[0], max(1, int(lengths.max(initial=0)))), -1, dtype=np.int64)
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)
    columns = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], lengths)
    out[rows, columns] = matrix.indices
    return out


def _sample_negatives(
    interacted: sp.csr_matrix,
    n: int,
    weights: npt.NDArray[np.float64] | None,
    rng: np.random.Generator,
) -> IndexArray:
    """``(n_users, n)`` distinct items outside each row of ``interacted``, padded with -1.

    Rejection sampling handles the usual case (a user knows a small part of the catalog) in a few
    vectorised rounds; rows where it is slow or impossible (few eligible items) are sampled exactly
    from random keys over the whole catalog.
    """
    n_users, n_items = interacted.shape
    out = np.full((n_users, n), -1, dtype=np.int64)
    if weights is None:
        eligible_items = np.ones(n_items, dtype=bool)
        probabilities = None
    else:
        eligible_items = weights > 0
        if not eligible_items.any():
            return out
        probabilities = weights / weights.sum()
    known_eligible = np.asarray(interacted @ eligible_items.astype(np.float64)).ravel()
    n_eligible = int(eligible_items.sum()) - known_eligible
    easy = np.flatnonzero(n_eligible >= 2 * n)
    hard = np.setdiff1d(np.arange(n_users), easy)
    if len(easy):
        drawn, failed = _rejection_sample(interacted[easy], n, n_items, probabilities, rng)
        out[easy] = drawn
        hard = np.union1d(hard, easy[failed])
    if len(hard):
        out[hard] = _exact_sample(interacted[hard], n, weights, rng)
    return out


def _rejection_sample(
    interacted: sp.csr_matrix,
    n: int,
    n_items: int,
    probabilities: npt.NDArray[np.float64] | None,
    rng: np.random.Generator,
) -> tuple[IndexArray, npt.NDArray[np.bool_]]:
    def draw(size: int | tuple[int, int]) -> npt.NDArray[np.int64]:
        if probabilities is None:
            return rng.integers(0, n_items, size=size, dtype=np.int64)
        return rng.choice(n_items, size=size, p=probabilities).astype(np.int64)

    drawn = draw((interacted.shape[0], n))
    for _ in range(_MAX_REJECTION_ROUNDS):
        bad = membership(drawn, interacted) | ~first_occurrences(drawn)
        if not bad.any():
            break
        drawn[bad] = draw(int(bad.sum()))
    else:
        bad = membership(drawn, interacted) | ~first_occurrences(drawn)
    failed: npt.NDArray[np.bool_] = np.count_nonzero(bad, axis=1) > 0
    return drawn, failed


def _exact_sample(
    interacted: sp.csr_matrix,
    n: int,
    weights: npt.NDArray[np.float64] | None,
    rng: np.random.Generator,
) -> IndexArray:
    """Weighted sampling without replacement by random keys ``u ** (1 / w)`` (Efraimidis & Spirakis)."""
    n_rows, n_items = interacted.shape
    out = np.full((n_rows, n), -1, dtype=np.int64)
    chunk = max(1, _KEY_BUDGET // n_items)
    log_weights = None
    if weights is not None:
        with np.errstate(divide="ignore"):
            log_weights = np.log(weights)
    for start in range(0, n_rows, chunk):
        block = interacted[start : start + chunk]
        keys = rng.random((block.shape[0], n_items))
        if log_weights is not None:
            # log(u ** (1/w)) = log(u) / w; ranking by log(log-key) avoids underflow for large w.
            with np.errstate(divide="ignore"):
                keys = -np.log(-np.log(keys)) + log_weights
        scores = keys.astype(np.float32)
        rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
        scores[rows, block.indices] = -np.inf
        chosen, _ = top_k(scores, n)
        out[start : start + block.shape[0], : chosen.shape[1]] = chosen
    return out
