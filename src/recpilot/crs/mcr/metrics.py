"""Pure metric functions of the MCR benchmark over per-conversation outcomes.

Each conversation is summarised by ``turn`` (the system turn of the successful recommendation, 1-based;
0 for a failure) and ``rank`` (the target's 1-based position in that list; 0 for a failure).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


def _turns(turns: npt.ArrayLike) -> IntArray:
    return np.asarray(turns, dtype=np.int64)


def success_rate(turns: npt.ArrayLike, k: int) -> float:
    """SR@k: share of conversations that succeeded by system turn ``k``."""
    t = _turns(turns)
    return float(((t > 0) & (t <= k)).mean()) if len(t) else 0.0


def average_turns(turns: npt.ArrayLike, max_turns: int) -> float:
    """AT: mean turns to success, a failure counting ``max_turns``."""
    t = _turns(turns)
    return float(np.where(t > 0, t, max_turns).mean()) if len(t) else 0.0


def hdcg_per_conversation(turns: npt.ArrayLike, ranks: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """hDCG of each conversation: two-level discounted gain over (turn, rank in list).

    The definition of UNICORN (Deng et al., SIGIR 2021, section 5.1.3), as computed in its evaluation
    script ``RL/RL_evaluate.py`` (github.com/dengyang17/unicorn, also used by MCMIPL): a success on turn
    ``T`` with the target at rank ``r`` of the list scores
    ``1/log2(T+2) + (1/log2(T+1) - 1/log2(T+2)) / log2(r+1)``, a failure 0; success on turn 1 at rank 1
    scores 1. (The script writes it with the 0-based turn ``t = T-1``:
    ``1/log(t+3, 2) + (1/log(t+2, 2) - 1/log(t+3, 2)) / log(rank+1, 2)``.)
    """
    t = _turns(turns).astype(np.float64)
    r = np.asarray(ranks, dtype=np.float64)
    hit = (t > 0) & (r > 0)
    tt = np.where(hit, t, 1.0)
    rr = np.where(hit, r, 1.0)
    gain = 1.0 / np.log2(tt + 2) + (1.0 / np.log2(tt + 1) - 1.0 / np.log2(tt + 2)) / np.log2(rr + 1)
    return np.where(hit, gain, 0.0)


def hdcg(turns: npt.ArrayLike, ranks: npt.ArrayLike) -> float:
    """Mean hDCG over conversations (see :func:`hdcg_per_conversation`)."""
    values = hdcg_per_conversation(turns, ranks)
    return float(values.mean()) if len(values) else 0.0
