"""Counter-based random draws of the offline engine: every number is a hash of its keys.

A draw depends only on the run seed, the user's population index, the session, the page and the
column, never on which other users share a batch; so the batch path, the async path, shards and
resumed runs draw the same numbers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def mix64(*keys: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    """A SplitMix64 hash of the keys, element-wise (arrays broadcast): independent-looking 64-bit words.

    Counter-based, so a draw depends only on its keys, never on how many rows a batch has.
    """
    state = np.zeros((), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for key in keys:
            state = state ^ np.asarray(key, dtype=np.uint64)
            state = state + np.uint64(0x9E3779B97F4A7C15)
            state = (state ^ (state >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            state = (state ^ (state >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            state = state ^ (state >> np.uint64(31))
    return np.asarray(state, dtype=np.uint64)


def page_uniforms(seeds: npt.ArrayLike, page: int, k: int) -> FloatArray:
    """The ``(B, 2k + 2)`` uniforms of page ``page`` for user-session ``seeds``.

    Columns ``0..k-1`` decide examination, ``k..2k-1`` attractiveness, ``2k`` the rating noise and
    ``2k+1`` the leave hazard. Each entry is a hash of its seed, the page and the column (vectorised:
    a million users draw in one step).
    """
    rows = np.asarray(seeds, dtype=np.uint64).ravel()
    words = mix64(rows[:, None], page, np.arange(2 * k + 2, dtype=np.uint64)[None, :])
    out: FloatArray = (words >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return out.reshape(len(rows), 2 * k + 2)
