"""Fit one recpilot model on an exported train split and write its top-k lists (our side of the benchmark).

The mirror image of ``benchmarks/peer/run_rectools.py``: same input files, same output files, one model
per process, so that peak memory is per model and both libraries read exactly the same train data.
``benchmarks/compare_peers.py`` runs it; it can also be run by hand::

    .venv/bin/python benchmarks/run_recpilot.py --model ease --train train.csv \\
        --test-users test_users.csv --n-items 9742 --k 10 --out /tmp/ease
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.models.base import Recommender
from recpilot.models.registry import build_model, model_class


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def read_train(path: Path, n_items: int) -> Dataset:
    """The exported train interactions as a recpilot dataset whose item indices equal ``item_idx``.

    The catalog is ``0..n_items-1`` in order, so internal item index ``i`` is external id ``i``; users keep
    the exported ``user_idx`` as their external id. Rows arrive in time order per user, which keeps the
    tie-breaking of equal timestamps identical to the original split.
    """
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    interactions = pd.DataFrame(
        {
            Columns.USER: table["user_idx"].to_numpy(np.int64),
            Columns.ITEM: table["item_idx"].to_numpy(np.int64),
            Columns.RATING: table["weight"].to_numpy(np.float32),
            Columns.TIMESTAMP: table["timestamp"].to_numpy(np.int64),
        }
    )
    catalog = pd.DataFrame({Columns.ITEM: np.arange(n_items, dtype=np.int64)})
    return Dataset.from_frames(interactions, catalog, name=path.stem)


def make_model(name: str, params: dict[str, Any], seed: int) -> Recommender[Any]:
    """Our model with its default config, ``params`` overrides and the benchmark seed (if it takes one)."""
    fields = model_class(name).config_class.model_fields
    seeded: dict[str, Any] = {k: seed for k in ("seed", "random_state") if k in fields and k not in params}
    return build_model(name, **{**seeded, **params})


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fit, recommend, write the outputs and return the result record."""
    params: dict[str, Any] = json.loads(args.params)
    model_class(args.model)  # import the model's module before the baseline memory reading
    baseline_mb = _rss_mb()
    train = read_train(Path(args.train), args.n_items)
    test_users = pd.read_csv(args.test_users)["user_idx"].to_numpy(np.int64)
    user_idx = train.users.to_internal(test_users)

    fit_times: list[float] = []
    recommend_times: list[float] = []
    items = np.empty((0, args.k), dtype=np.int64)
    model: Recommender[Any] | None = None
    for _ in range(args.repeat):
        model = make_model(args.model, params, args.seed)
        start = time.perf_counter()
        model.fit(train)
        fit_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        items, _ = model.recommend_indices(user_idx, args.k, filter_seen=True)
        recommend_times.append(time.perf_counter() - start)
    assert model is not None

    rows, ranks = np.nonzero(items >= 0)
    out = pd.DataFrame({"user_idx": test_users[rows], "item_idx": items[rows, ranks], "rank": ranks + 1})
    directory = Path(args.out)
    directory.mkdir(parents=True, exist_ok=True)
    out.to_csv(directory / "recommendations.csv", index=False)
    import recpilot

    result = {
        "library": f"recpilot {getattr(recpilot, '__version__', '?')}",
        "model": args.model,
        "params": model.config.model_dump(mode="json"),
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
    parser.add_argument("--model", required=True, help="a recpilot registry name (pop, ease, ...)")
    parser.add_argument("--params", default="{}", help="JSON object of config overrides")
    parser.add_argument("--train", required=True, help="train interactions (.csv or .parquet)")
    parser.add_argument("--test-users", required=True, help="CSV with a user_idx column")
    parser.add_argument("--n-items", type=int, required=True, help="size of the item space")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=1, help="fit/recommend N times, report the median")
    parser.add_argument("--out", required=True, help="output directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: returns the process exit status."""
    result = run(parse_args(argv))
    print(json.dumps({k: v for k, v in result.items() if not k.endswith("_all")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
