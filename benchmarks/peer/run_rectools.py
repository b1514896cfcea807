"""Fit one RecTools model on an exported train split and write its top-k lists (peer side of the benchmark).

This script runs inside the *peer* virtual environment (RecTools pins numpy<2 and pandas<3), so it never
imports recpilot. ``benchmarks/compare_peers.py`` exports a split, calls this script once per model in a
fresh process, and evaluates the lists it writes with recpilot's own metric code.

Inputs (written by ``compare_peers.py``):

- ``--train``: CSV or Parquet with ``user_idx, item_idx, weight, timestamp``, rows in time order per user.
  recpilot's internal indices are used as RecTools *external* ids, so the lists come back in recpilot's
  item space and need no mapping.
- ``--test-users``: CSV with one column ``user_idx``.
- ``--n-items``: size of recpilot's item space (for a sanity check on the returned indices).

Outputs (in ``--out``): ``recommendations.csv`` (``user_idx, item_idx, rank``; rank starts at 1) and
``result.json`` (``fit_seconds``, ``recommend_seconds``, ``peak_rss_mb``, ...).

Example::

    benchmarks/.peer-venv/bin/python benchmarks/peer/run_rectools.py --model ease \\
        --params '{"regularization": 500}' --train train.csv --test-users test_users.csv \\
        --n-items 9742 --k 10 --out /tmp/ease
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MODEL_NAMES = ("pop", "itemknn", "ease", "als", "bpr", "sasrec")


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def read_train(path: Path, binary: bool) -> pd.DataFrame:
    """Read the exported train interactions as a RecTools interactions table.

    The datetime column is each interaction's position in its user's time-ordered sequence (rows arrive
    in that order), so ties in the source timestamps break exactly as in recpilot's sequences.

    Args:
        path: CSV or Parquet file with ``user_idx, item_idx, weight, timestamp``.
        binary: Use weight 1 for every interaction instead of the ``weight`` column.
    """
    from rectools import Columns

    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    position = table.groupby("user_idx", sort=False).cumcount().to_numpy(dtype=np.int64)
    weight = np.ones(len(table), dtype=np.float32) if binary else table["weight"].to_numpy(np.float32)
    return pd.DataFrame(
        {
            Columns.User: table["user_idx"].to_numpy(np.int64),
            Columns.Item: table["item_idx"].to_numpy(np.int64),
            Columns.Weight: weight,
            Columns.Datetime: pd.to_datetime(position, unit="s"),
        }
    )


def build_model(name: str, params: dict[str, Any], seed: int) -> Any:
    """A RecTools model for a benchmark model name, with ``params`` passed to the underlying algorithm.

    For the implicit wrappers (``itemknn``, ``als``, ``bpr``) ``params`` go to the implicit class
    (``CosineRecommender``, ``AlternatingLeastSquares``, ``BayesianPersonalizedRanking``); for the others
    they go to the RecTools model itself.
    """
    from rectools import models

    builders: dict[str, Callable[[], Any]] = {
        "pop": lambda: models.PopularModel(**params),
        "ease": lambda: models.EASEModel(**params),
        "itemknn": lambda: _itemknn(params),
        "als": lambda: _als(params, seed),
        "bpr": lambda: _bpr(params, seed),
        "sasrec": lambda: _sasrec(params, seed),
    }
    if name not in builders:
        raise SystemExit(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return builders[name]()


def _itemknn(params: dict[str, Any]) -> Any:
    from implicit.nearest_neighbours import CosineRecommender
    from rectools.models import ImplicitItemKNNWrapperModel

    return ImplicitItemKNNWrapperModel(CosineRecommender(**params))


def _als(params: dict[str, Any], seed: int) -> Any:
    from implicit.als import AlternatingLeastSquares
    from rectools.models import ImplicitALSWrapperModel

    return ImplicitALSWrapperModel(AlternatingLeastSquares(**{"random_state": seed, **params}))


def _bpr(params: dict[str, Any], seed: int) -> Any:
    from implicit.bpr import BayesianPersonalizedRanking
    from rectools import models

    wrapper = getattr(models, "ImplicitBPRWrapperModel", None)
    if wrapper is None:
        raise SystemExit("this RecTools version has no ImplicitBPRWrapperModel")
    return wrapper(BayesianPersonalizedRanking(**{"random_state": seed, **params}))


def _sasrec(params: dict[str, Any], seed: int) -> Any:
    from pytorch_lightning import seed_everything
    from rectools.models import SASRecModel

    seed_everything(seed, workers=True)
    return SASRecModel(**params)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fit, recommend, write the outputs and return the result record."""
    import rectools.models  # imported before the baseline memory reading: it pulls in torch
    from rectools.dataset import Dataset

    params: dict[str, Any] = json.loads(args.params)
    baseline_mb = _rss_mb()
    interactions = read_train(Path(args.train), args.binary_weights)
    test_users = pd.read_csv(args.test_users)["user_idx"].to_numpy(np.int64)

    fit_times: list[float] = []
    recommend_times: list[float] = []
    recs = pd.DataFrame()
    for _ in range(args.repeat):
        model = build_model(args.model, params, args.seed)
        # Only ``fit`` is timed, as on the recpilot side (where building the Dataset is not timed either).
        dataset = Dataset.construct(interactions)
        start = time.perf_counter()
        model.fit(dataset)
        fit_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        recs = model.recommend(users=test_users, dataset=dataset, k=args.k, filter_viewed=True)
        recommend_times.append(time.perf_counter() - start)

    from rectools import Columns

    out = pd.DataFrame(
        {
            "user_idx": recs[Columns.User].to_numpy(np.int64),
            "item_idx": recs[Columns.Item].to_numpy(np.int64),
            "rank": recs[Columns.Rank].to_numpy(np.int64),
        }
    )
    if len(out) and (out["item_idx"].max() >= args.n_items or out["item_idx"].min() < 0):
        raise SystemExit("RecTools returned item indices outside recpilot's item space")
    directory = Path(args.out)
    directory.mkdir(parents=True, exist_ok=True)
    out.to_csv(directory / "recommendations.csv", index=False)
    import rectools

    result = {
        "library": f"rectools {rectools.__version__}",
        "model": args.model,
        "params": params,
        "fit_seconds": statistics.median(fit_times),
        "recommend_seconds": statistics.median(recommend_times),
        "fit_seconds_all": fit_times,
        "recommend_seconds_all": recommend_times,
        "peak_rss_mb": _rss_mb(),
        "import_rss_mb": baseline_mb,
        "n_recommended_users": int(out["user_idx"].nunique()),
    }
    (directory / "result.json").write_text(json.dumps(result, indent=2))
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, choices=MODEL_NAMES)
    parser.add_argument("--params", default="{}", help="JSON object of hyper-parameters (see build_model)")
    parser.add_argument("--train", required=True, help="train interactions (.csv or .parquet)")
    parser.add_argument("--test-users", required=True, help="CSV with a user_idx column")
    parser.add_argument("--n-items", type=int, required=True, help="size of recpilot's item space")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=1, help="fit/recommend N times, report the median")
    parser.add_argument("--binary-weights", action="store_true", help="weight 1 for every interaction")
    parser.add_argument("--out", required=True, help="output directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: returns the process exit status."""
    args = parse_args(argv)
    warnings.filterwarnings("ignore")  # RecTools and Lightning warn about CPU/threads on every run
    result = run(args)
    print(json.dumps({k: v for k, v in result.items() if not k.endswith("_all")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
