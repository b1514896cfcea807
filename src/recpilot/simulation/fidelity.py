"""Fidelity of the calibrated engine: calibrate on training interactions, validate on held-out ones.

Checks (``recpilot simulate --validate``):

- **1:m discrimination** (Agent4Rec): each test user is shown its held-out items mixed with ``m``
  sampled items it never interacted with, per held-out item; the engine's sampled "likes" are scored
  (precision, recall, F1) against the truth and compared with a guesser that says "like" as often as
  the engine does, at random (precision ``1/(1+m)``, recall the engine's like rate): a fixed
  half-the-time guesser would reward an engine for liking often, not for telling items apart.
- **Choice on a page**: one held-out item at a random position among ``k - 1`` never-interacted items;
  how often the user clicks it, against how often any other single item on the page is clicked.
- **Distributions**: simulated ratings of the held-out items against the real held-out ratings (KL over
  the rating scale, Wasserstein, quantiles); popularity percentiles of simulated likes against those of
  the real held-out items.

The engine is fitted on the training part only (preferences included), so held-out items stay unseen.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict
from scipy.stats import wasserstein_distance

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.simulation.assembly import split_for_simulation
from recpilot.simulation.offline_engine import OfflineEngine, PageBatch
from recpilot.simulation.persona import build_personas, popularity_percentile, string_index

FloatArray = npt.NDArray[np.float64]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Discrimination(_Model):
    """Precision, recall and F1 of simulated likes at one ratio ``1:m``, with the chance baseline."""

    m: int
    pairs: int
    precision: float
    recall: float
    f1: float
    chance_precision: float
    chance_recall: float
    chance_f1: float


class DistributionGap(_Model):
    """Simulated against real values of one quantity."""

    wasserstein: float
    kl: float | None
    real_mean: float
    simulated_mean: float
    real_quantiles: list[float]
    simulated_quantiles: list[float]


class FidelityReport(_Model):
    """Results of :func:`validate`."""

    dataset: str
    users: int
    discrimination: list[Discrimination]
    heldout_click_rate: float
    other_item_click_rate: float
    heldout_click_share: float
    chance_click_share: float
    ratings: DistributionGap | None
    popularity: DistributionGap
    parameters: dict[str, Any]
    wall_time_s: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON the CLI prints."""
        return self.model_dump()


def validate(
    dataset: Dataset,
    *,
    seed: int = 42,
    ms: Sequence[int] = (1, 3, 9),
    max_users: int | None = None,
    page_size: int = 10,
    engine: OfflineEngine | None = None,
) -> FidelityReport:
    """Calibrate the offline engine on the training part of ``dataset`` and score it on the held-out part.

    Args:
        dataset: The data.
        seed: Split, sampling and simulation seed.
        ms: Ratios of the discrimination test.
        max_users: Validate on at most this many test users (a seeded sample).
        page_size: Page size of the choice test.
        engine: An engine already fitted on the same split's training part (skips calibration).
    """
    started = time.perf_counter()
    split = split_for_simulation(dataset, seed)
    if engine is None:
        engine = OfflineEngine(seed=seed).fit(split.train)
    engine._require()
    rng = np.random.default_rng([seed, 0xF1DE])
    users = split.test_users
    if max_users is not None and len(users) > max_users:
        users = np.sort(rng.choice(users, max_users, replace=False))
    test = split.test[split.test[Columns.USER_IDX].isin(users)]
    pos_users = test[Columns.USER_IDX].to_numpy().astype(np.int64)
    pos_items = test[Columns.ITEM_IDX].to_numpy().astype(np.int64)
    activity = _activity(split.train)
    like, chosen, choice = engine.user_arrays(users)
    row_of = np.searchsorted(users, pos_users)
    seen = dataset.matrix("binary")
    popularity = popularity_percentile(split.train)

    def attract(rows: npt.NDArray[np.int64], items: npt.NDArray[np.int64]) -> FloatArray:
        return engine.attractiveness(like[rows, items], choice[rows, items])

    a_pos = attract(row_of, pos_items)
    results = []
    liked_items: list[npt.NDArray[np.int64]] = []
    for m in ms:
        neg_rows = np.repeat(row_of, m)
        neg_items = _negatives(seen, users[neg_rows], dataset.n_items, rng)
        likes_pos = rng.random(len(a_pos)) < a_pos
        likes_neg = rng.random(len(neg_rows)) < attract(neg_rows, neg_items)
        tp, fp = int(likes_pos.sum()), int(likes_neg.sum())
        precision = tp / max(tp + fp, 1)
        recall = tp / max(len(a_pos), 1)
        chance_p = 1.0 / (1 + m)
        chance_r = (tp + fp) / max(len(a_pos) + len(neg_rows), 1)  # the engine's own like rate
        results.append(
            Discrimination(
                m=m,
                pairs=len(a_pos) + len(neg_rows),
                precision=precision,
                recall=recall,
                f1=_f1(precision, recall),
                chance_precision=chance_p,
                chance_recall=chance_r,
                chance_f1=_f1(chance_p, chance_r),
            )
        )
        liked_items.append(np.concatenate([pos_items[likes_pos], neg_items[likes_neg]]))

    click_rates = _choice_test(
        engine, users, (like, chosen, choice), activity, seen, dataset.n_items, page_size, rng
    )
    popularity_gap = _gap(popularity[np.concatenate(liked_items)], popularity[pos_items])
    ratings = None
    if not dataset.implicit:
        simulated, _ = engine.ratings(chosen[row_of, pos_items], rng.random(len(pos_users)))
        ratings = _gap(simulated, test[Columns.RATING].to_numpy(np.float64), discrete=True)
    return FidelityReport(
        dataset=dataset.name,
        users=len(users),
        discrimination=results,
        heldout_click_rate=click_rates[0],
        other_item_click_rate=click_rates[1],
        heldout_click_share=click_rates[2],
        chance_click_share=1.0 / page_size,
        ratings=ratings,
        popularity=popularity_gap,
        parameters=engine.parameters(),
        wall_time_s=time.perf_counter() - started,
    )


def _choice_test(
    engine: OfflineEngine,
    users: npt.NDArray[np.int64],
    probabilities: tuple[FloatArray, FloatArray, FloatArray],
    activity: FloatArray,
    seen: Any,
    n_items: int,
    k: int,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """One page per test user with one held-out item at a random position; click rates."""
    rows = np.arange(len(users))
    items = _negatives(seen, np.repeat(users, k), n_items, rng).reshape(len(users), k)
    slot = rng.integers(0, k, size=len(users))
    items[rows, slot] = _held_out(engine, users, seen, rng)
    u = users
    outcome = engine.decide_arrays(
        PageBatch(
            items=items,
            like=probabilities[0][rows[:, None], items],
            chosen=probabilities[1][rows[:, None], items],
            choice=probabilities[2][rows[:, None], items],
            consumed=np.zeros(items.shape, dtype=bool),
            activity=activity[u],
            satisfaction=np.full(len(u), engine.behaviour.initial_satisfaction),
            fatigue=np.zeros(len(u)),
            uniforms=rng.random((len(u), 2 * k + 2)),
        )
    )
    heldout_clicks = outcome.click == slot
    other_clicks = (outcome.click >= 0) & ~heldout_clicks
    total = int((outcome.click >= 0).sum())
    return (
        float(heldout_clicks.mean()),
        float(other_clicks.sum() / max(len(u) * (k - 1), 1)),
        float(heldout_clicks.sum() / max(total, 1)),
    )


def _held_out(
    engine: OfflineEngine, users: npt.NDArray[np.int64], seen: Any, rng: np.random.Generator
) -> Any:
    """A random item per user that is in the full data but not in the engine's (training) data."""
    assert engine.dataset is not None
    train = engine.dataset.matrix("binary")
    out = np.empty(len(users), dtype=np.int64)
    for row, u in enumerate(users.tolist()):
        candidates = np.setdiff1d(seen[u].indices, train[u].indices)
        out[row] = int(rng.choice(candidates)) if len(candidates) else int(rng.choice(seen[u].indices))
    return out


def _activity(train: Dataset) -> FloatArray:
    index = string_index(train.users.external_ids)
    out = np.zeros(train.n_users)
    for persona in build_personas(train):
        out[index[persona.user_id]] = persona.activity
    return out


def _negatives(seen: Any, users: npt.NDArray[np.int64], n_items: int, rng: np.random.Generator) -> Any:
    out = rng.integers(0, n_items, size=len(users))
    for _ in range(20):
        bad = np.asarray(seen[users, out]).ravel() > 0
        if not bad.any():
            break
        out[bad] = rng.integers(0, n_items, size=int(bad.sum()))
    return out.astype(np.int64)


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _gap(simulated: FloatArray, real: FloatArray, *, discrete: bool = False) -> DistributionGap:
    qs = [0.25, 0.5, 0.75]
    kl = None
    if discrete:
        values = np.union1d(np.unique(real), np.unique(simulated))
        p = np.array([(real == v).sum() for v in values], dtype=np.float64) + 0.5
        q = np.array([(simulated == v).sum() for v in values], dtype=np.float64) + 0.5
        p, q = p / p.sum(), q / q.sum()
        kl = float(np.sum(p * np.log(p / q)))
    return DistributionGap(
        wasserstein=float(wasserstein_distance(simulated, real)) if len(simulated) and len(real) else 0.0,
        kl=kl,
        real_mean=float(np.mean(real)) if len(real) else 0.0,
        simulated_mean=float(np.mean(simulated)) if len(simulated) else 0.0,
        real_quantiles=[float(x) for x in np.quantile(real, qs)] if len(real) else [],
        simulated_quantiles=[float(x) for x in np.quantile(simulated, qs)] if len(simulated) else [],
    )
