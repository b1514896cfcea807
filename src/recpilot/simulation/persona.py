"""Data-grounded personas: Agent4Rec-style traits derived from real users' interaction statistics.

Traits (all in [0, 1], computed over the users of one dataset):

- ``activity``: the user's number of distinct interactions, quantile-normalised (mid-rank percentile),
  so the most active user gets 1 and the least active 0.
- ``conformity``: the mean popularity percentile of the user's items; with explicit ratings it is
  averaged with ``(1 + r) / 2`` where ``r`` is the Pearson correlation between the user's ratings and
  the items' average ratings (a user who rates like the crowd conforms more).
- ``diversity``: the entropy of the genre distribution of the user's items divided by the log of the
  number of genres in the catalog.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError
from recpilot.simulation.types import Persona

_GENRE_COLUMNS = ("genres", "genre", "categories", "category")


@dataclass(frozen=True)
class SimulatedUser:
    """One member of a simulated population.

    Attributes:
        sim_id: Distinct simulated id (``"<real id>#<copy>"``; copies appear when the population is
            larger than the real user base).
        index: Position in the population; with the run seed it determines every random draw.
        user_idx: Internal index of the real user in the dataset.
        persona: The persona the simulated user is grounded on.
    """

    sim_id: str
    index: int
    user_idx: int
    persona: Persona


def genre_matrix(dataset: Dataset) -> tuple[sp.csr_matrix, list[str]]:
    """The item x genre binary matrix and the genre names (empty when the catalog has no genres)."""
    column = next((c for c in _GENRE_COLUMNS if c in dataset.catalog.columns), None)
    if column is None:
        return sp.csr_matrix((dataset.n_items, 0), dtype=np.float32), []
    names: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for item, values in enumerate(dataset.catalog[column].to_numpy()):
        if values is None or isinstance(values, float):
            continue
        for value in [values] if isinstance(values, str) else values:
            if not value or str(value).startswith("(no genres"):
                continue
            rows.append(item)
            cols.append(names.setdefault(str(value), len(names)))
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(dataset.n_items, len(names))
    )
    matrix.data[:] = 1.0
    return matrix, list(names)


def percentile_rank(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Mid-rank percentiles in [0, 1]: the smallest value maps to 0, the largest to 1, ties share."""
    n = len(values)
    if n <= 1:
        return np.full(n, 0.5)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.arange(n, dtype=np.float64)
    # ties get the mean of their ranks
    uniq, inverse = np.unique(values, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks, minlength=len(uniq))
    counts = np.bincount(inverse, minlength=len(uniq))
    result: npt.NDArray[np.float64] = (sums / counts)[inverse] / (n - 1)
    return result


def popularity_percentile(dataset: Dataset) -> npt.NDArray[np.float64]:
    """Each item's popularity percentile among items with interactions (0 for the others)."""
    popularity = dataset.item_popularity
    out = np.zeros(dataset.n_items)
    out[popularity > 0] = percentile_rank(popularity[popularity > 0])
    return out


def build_personas(dataset: Dataset, *, users: Sequence[int] | None = None) -> list[Persona]:
    """Personas for the dataset's users with at least one interaction (or the given internal indices).

    Traits are normalised over all active users of ``dataset``, whichever subset is returned.
    """
    binary = dataset.matrix("binary")
    counts = np.diff(binary.indptr).astype(np.float64)
    active = np.flatnonzero(counts > 0)
    if len(active) == 0:
        raise ConfigError(f"dataset {dataset.name!r} has no user with interactions to ground personas on")
    activity = np.zeros(dataset.n_users)
    activity[active] = percentile_rank(counts[active])

    conformity = (binary @ popularity_percentile(dataset)) / np.maximum(counts, 1.0)

    ratings = dataset.matrix("rating")
    rating_sum = np.asarray(ratings.sum(axis=1)).ravel().astype(np.float64)
    rating_mean = rating_sum / np.maximum(counts, 1.0)
    squares = np.asarray(ratings.multiply(ratings).sum(axis=1)).ravel().astype(np.float64)
    rating_std = np.sqrt(np.maximum(squares / np.maximum(counts, 1.0) - rating_mean**2, 0.0))
    if not dataset.implicit:
        conformity = 0.5 * conformity + 0.5 * (1.0 + _crowd_correlation(ratings)) / 2.0

    genres, genre_names = genre_matrix(dataset)
    diversity = _genre_entropy(binary, genres)
    top_genres = _top_genres(binary, genres, genre_names)

    indptr, sequence = dataset.sequences
    item_ids = dataset.items.external_ids
    user_ids = dataset.users.external_ids
    wanted = active if users is None else np.asarray(users, dtype=np.int64)
    personas = []
    for u in wanted.tolist():
        history = [str(i) for i in item_ids[sequence[indptr[u] : indptr[u + 1]]].tolist()]
        liked = _recent_liked(dataset, ratings, u, rating_mean[u])
        personas.append(
            Persona(
                user_id=str(user_ids[u]),
                history=history,
                activity=_unit(activity[u]),
                conformity=_unit(conformity[u]),
                diversity=_unit(diversity[u]),
                rating_mean=float(rating_mean[u]),
                rating_std=float(rating_std[u]),
                description=describe(
                    activity[u],
                    conformity[u],
                    diversity[u],
                    rating_mean[u],
                    top_genres[u],
                    liked,
                    implicit=dataset.implicit,
                ),
            )
        )
    return personas


def sample_population(
    personas: Sequence[Persona], dataset: Dataset, n: int, seed: int
) -> list[SimulatedUser]:
    """A seeded population of ``n`` simulated users.

    Real users are drawn in a seeded random order without replacement; when ``n`` exceeds their number
    the order is repeated (a fresh permutation each round), and each repeat gets a distinct simulated id.
    """
    if n < 1:
        raise ConfigError(f"population size must be at least 1, got {n}")
    if not personas:
        raise ConfigError("cannot sample a population from zero personas")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    user_index = string_index(dataset.users.external_ids)
    rounds = -(-n // len(personas))
    order = np.concatenate([rng.permutation(len(personas)) for _ in range(rounds)])[:n]
    population = []
    for index, p in enumerate(order.tolist()):
        persona = personas[p]
        copy = index // len(personas)
        population.append(
            SimulatedUser(
                sim_id=f"{persona.user_id}#{copy}",
                index=index,
                user_idx=user_index[persona.user_id],
                persona=persona,
            )
        )
    return population


def describe(
    activity: float,
    conformity: float,
    diversity: float,
    rating_mean: float,
    genres: Sequence[str],
    liked: Sequence[str],
    *,
    implicit: bool = False,
) -> str:
    """A short natural-language description of a persona for LLM prompts."""
    how_often = "a very active" if activity > 0.75 else "an occasional" if activity < 0.25 else "a regular"
    crowd = (
        "mostly picks popular, well-rated titles"
        if conformity > 0.6
        else "often seeks out lesser-known titles"
        if conformity < 0.4
        else "mixes popular and lesser-known titles"
    )
    breadth = "broad" if diversity > 0.6 else "focused" if diversity < 0.4 else "fairly varied"
    text = f"You are {how_often} user who {crowd}, with {breadth} taste"
    text += f" (favourite genres: {', '.join(genres)})." if genres else "."
    if not implicit:
        mood = "generously" if rating_mean >= 3.8 else "harshly" if rating_mean < 3.0 else "moderately"
        text += f" You rate {mood} (average {rating_mean:.1f} of 5)."
    if liked:
        text += f" Recently liked: {'; '.join(liked)}."
    return text


def _unit(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def string_index(ids: npt.NDArray[np.generic]) -> dict[str, int]:
    """Map external ids, as strings (the simulation's currency), to internal indices."""
    return {str(value): index for index, value in enumerate(ids.tolist())}


def _crowd_correlation(ratings: sp.csr_matrix) -> npt.NDArray[np.float64]:
    """Per-user Pearson correlation of their ratings with the items' average ratings (0 when undefined)."""
    column_sums = np.asarray(ratings.sum(axis=0)).ravel()
    column_counts = np.diff(ratings.tocsc().indptr)
    item_mean = column_sums / np.maximum(column_counts, 1)
    out = np.zeros(ratings.shape[0])
    for u in range(ratings.shape[0]):
        start, stop = ratings.indptr[u], ratings.indptr[u + 1]
        if stop - start < 3:
            continue
        mine = ratings.data[start:stop].astype(np.float64)
        crowd = item_mean[ratings.indices[start:stop]]
        if mine.std() == 0 or crowd.std() == 0:
            continue
        out[u] = float(np.corrcoef(mine, crowd)[0, 1])
    return out


def _genre_entropy(binary: sp.csr_matrix, genres: sp.csr_matrix) -> npt.NDArray[np.float64]:
    n_genres = genres.shape[1]
    if n_genres < 2:
        return np.zeros(binary.shape[0])
    counts = np.asarray((binary @ genres).todense(), dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    logs = np.log(share, out=np.zeros_like(share), where=share > 0)
    entropy: npt.NDArray[np.float64] = -(share * logs).sum(axis=1) / np.log(n_genres)
    return entropy


def _top_genres(
    binary: sp.csr_matrix, genres: sp.csr_matrix, names: list[str], n: int = 3
) -> list[list[str]]:
    if not names:
        return [[] for _ in range(binary.shape[0])]
    counts = np.asarray((binary @ genres).todense())
    order = np.argsort(-counts, axis=1, kind="stable")[:, :n]
    return [[names[g] for g in row if counts[u, g] > 0] for u, row in enumerate(order.tolist())]


def _recent_liked(dataset: Dataset, ratings: sp.csr_matrix, user: int, mean: float, n: int = 3) -> list[str]:
    sequence = dataset.user_sequence(user)
    row = ratings[user]
    score = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
    liked = [i for i in sequence[::-1].tolist() if score.get(i, 0.0) >= mean][:n]
    return dataset.titles(liked) if liked else []
