"""Compare recpilot's classic recommenders with RecTools on the same split and the same metric code.

For each dataset the script makes one leave-last-out split with recpilot's splitter and writes the train
interactions and the test users to ``benchmarks/results/work/<dataset>/``. For each model it then runs

- ours: ``benchmarks/run_recpilot.py`` in a fresh process of this interpreter, and
- the peer: ``benchmarks/peer/run_rectools.py`` in a fresh process of the peer venv's interpreter,

with the same hyper-parameters where the algorithms coincide (read from our config classes), and scores
both top-k lists with recpilot's NDCG@k and Recall@k over ``split.truth()``. It prints one table and
writes every figure to a JSON file.

Usage::

    .venv/bin/python benchmarks/compare_peers.py --datasets ml-latest-small,beauty \\
        --models pop,itemknn,ease,als,bpr,sasrec --peer-python benchmarks/.peer-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.data.loaders import load_dataset, load_sequences
from recpilot.data.splits import Split, leave_last_out
from recpilot.evaluation import metrics
from recpilot.models.registry import model_class

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_PEER_VENV = BENCH_DIR / ".peer-venv"
DEFAULT_OUTPUT = BENCH_DIR / "results" / "compare_peers.json"
DEFAULT_WORKDIR = BENCH_DIR / "results" / "work"
BEAUTY_PATH = REPO_ROOT.parent / "shared" / "data" / "amazon-beauty" / "Beauty.txt"
ALL_MODELS = ("pop", "itemknn", "ease", "als", "bpr", "sasrec")


# -- datasets ------------------------------------------------------------------------------------------


def load_beauty(path: Path = BEAUTY_PATH) -> Dataset:
    """Amazon Beauty 5-core (S3-Rec format: one line per user, ``uid item item ...`` in time order)."""
    return load_sequences(path, name="beauty")


def load_movielens() -> Dataset:
    """MovieLens latest-small, recpilot's built-in dataset."""
    return load_dataset("ml-latest-small")


DATASETS: dict[str, Callable[[], Dataset]] = {"ml-latest-small": load_movielens, "beauty": load_beauty}


def dataset_entry(entry: str) -> str:
    """A ``--datasets`` entry as the run will use it: a name of :data:`DATASETS`, else an absolute path.

    A path (an S3-Rec ``.txt``, a MovieLens folder, a CSV...) is made absolute so that the printed
    "Reproduce:" line, which runs from the repository root, names the same data.
    """
    if entry in DATASETS:
        return entry
    path = Path(entry).expanduser()
    if not path.exists():
        raise SystemExit(
            f"unknown dataset {entry!r}: neither one of {', '.join(DATASETS)} nor an existing path"
        )
    return str(path.resolve())


def load_entry(entry: str) -> tuple[str, Dataset]:
    """The short name (a folder name under ``--workdir``) and the loaded dataset of one entry."""
    if entry in DATASETS:
        return entry, DATASETS[entry]()
    dataset = load_dataset(Path(entry))
    return dataset.name or Path(entry).stem, dataset


@dataclass(frozen=True)
class ExportedSplit:
    """A split written to disk for the per-model processes.

    Attributes:
        train: CSV with ``user_idx, item_idx, weight, timestamp``, rows in time order within each user.
        test_users: CSV with one ``user_idx`` column (sorted, as :attr:`Split.test_users`).
        n_items: Size of the item space.
    """

    train: Path
    test_users: Path
    n_items: int


def export_split(split: Split, directory: Path) -> ExportedSplit:
    """Write the train interactions (in recpilot's time order, ties by file order) and the test users."""
    directory.mkdir(parents=True, exist_ok=True)
    train = split.train
    table = train.interactions
    order = np.lexsort(
        (
            np.arange(len(table)),
            table[Columns.TIMESTAMP].to_numpy(),
            table[Columns.USER_IDX].to_numpy(),
        )
    )
    ordered = table.iloc[order]
    train_path = directory / "train.csv"
    pd.DataFrame(
        {
            "user_idx": ordered[Columns.USER_IDX].to_numpy(),
            "item_idx": ordered[Columns.ITEM_IDX].to_numpy(),
            "weight": ordered[Columns.RATING].to_numpy(),
            "timestamp": ordered[Columns.TIMESTAMP].to_numpy(),
        }
    ).to_csv(train_path, index=False)
    users_path = directory / "test_users.csv"
    pd.DataFrame({"user_idx": split.test_users}).to_csv(users_path, index=False)
    return ExportedSplit(train_path, users_path, train.n_items)


# -- matching hyper-parameters -------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerSpec:
    """How to run the RecTools counterpart of one of our models.

    Attributes:
        params: Hyper-parameters for ``run_rectools.py`` (RecTools or implicit names).
        binary: Give RecTools weight 1 for every interaction (our model uses the binary matrix).
        note: What could not be matched, shown in the JSON output.
    """

    params: dict[str, Any]
    binary: bool = True
    note: str = ""


def _config(name: str, overrides: dict[str, Any]) -> Any:
    """Our model's configuration: its defaults with ``overrides``."""
    return model_class(name).config_class(**overrides)


def _get(config: Any, *names: str) -> Any:
    """The first of ``names`` that ``config`` has (config field names differ slightly between models)."""
    for name in names:
        if hasattr(config, name):
            return getattr(config, name)
    raise AttributeError(f"{type(config).__name__} has none of {names}")


def peer_spec(name: str, overrides: dict[str, Any] | None = None) -> PeerSpec:
    """RecTools parameters equal to our configuration of model ``name`` (defaults plus ``overrides``)."""
    if name == "pop":
        return PeerSpec({"popularity": "n_users"})
    config = _config(name, overrides or {})
    if name == "ease":
        return PeerSpec({"regularization": float(_get(config, "l2", "regularization"))})
    if name == "itemknn":
        if float(_get(config, "shrinkage")) != 0.0 or _get(config, "values") != "binary":
            raise ValueError("implicit's CosineRecommender has no shrinkage and here gets binary values")
        # implicit counts the item itself among its K neighbours (self-similarity 1); we do not.
        neighbours = int(_get(config, "neighbors", "neighbours"))
        return PeerSpec({"K": neighbours + 1}, note=f"K = {neighbours} neighbours + the item itself")
    if name == "als":
        return PeerSpec(
            {
                "factors": int(_get(config, "factors", "n_factors")),
                "regularization": float(_get(config, "regularization", "l2")),
                "iterations": int(_get(config, "iterations", "epochs")),
                "alpha": float(_get(config, "alpha")),
            }
        )
    if name == "bpr":
        return PeerSpec(
            {
                "factors": int(_get(config, "factors", "n_factors")),
                "regularization": float(_get(config, "regularization", "l2")),
                "iterations": int(_get(config, "iterations", "epochs")),
                "learning_rate": float(_get(config, "learning_rate", "lr")),
            }
        )
    if name == "sasrec":
        loss = str(_get(config, "loss"))
        losses: dict[str, dict[str, Any]] = {
            "softmax": {},
            "sampled_softmax": {"n_negatives": int(_get(config, "n_negatives"))},
            "bce": {"loss": "BCE", "n_negatives": 1},
        }
        return PeerSpec(
            {
                "n_factors": int(_get(config, "hidden", "n_factors", "hidden_size")),
                "n_blocks": int(_get(config, "blocks", "n_blocks", "n_layers")),
                "n_heads": int(_get(config, "heads", "n_heads")),
                "dropout_rate": float(_get(config, "dropout", "dropout_rate")),
                "session_max_len": int(_get(config, "max_len", "session_max_len")),
                "epochs": int(_get(config, "epochs")),
                "lr": float(_get(config, "lr", "learning_rate")),
                "batch_size": int(_get(config, "batch_size")),
                "loss": loss,
                **losses[loss],
            }
        )
    raise ValueError(f"no RecTools counterpart for model {name!r}")


# -- running one model in one library ------------------------------------------------------------------


@dataclass
class RunResult:
    """One (dataset, model, library) cell of the table."""

    dataset: str
    model: str
    library: str
    ndcg: float | None = None
    recall: float | None = None
    fit_seconds: float | None = None
    recommend_seconds: float | None = None
    peak_rss_mb: float | None = None
    import_rss_mb: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    note: str = ""


def run_child(command: list[str], out_dir: Path, timeout: float) -> dict[str, Any]:
    """Run one per-model process and return its ``result.json``; raise ``RuntimeError`` with the cause."""
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"timed out after {timeout:.0f} s") from None
    except OSError as exc:
        raise RuntimeError(f"cannot start {command[0]}: {exc.strerror}") from None
    (out_dir / "stderr.log").write_text(done.stderr)
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit status {done.returncode}")
    record: dict[str, Any] = json.loads((out_dir / "result.json").read_text())
    return record


def _one_line(text: str, limit: int = 160) -> str:
    """An error message fit for one table cell."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def read_ranked(path: Path, users: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.int64]:
    """Top-k lists from ``recommendations.csv`` as an ``(len(users), k)`` array, padded with -1."""
    recs = pd.read_csv(path)
    ranked = np.full((len(users), k), -1, dtype=np.int64)
    rows = np.searchsorted(users, recs["user_idx"].to_numpy())
    ranks = recs["rank"].to_numpy() - 1
    keep = (rows < len(users)) & (ranks < k)
    keep[keep] &= users[rows[keep]] == recs["user_idx"].to_numpy()[keep]
    ranked[rows[keep], ranks[keep]] = recs["item_idx"].to_numpy()[keep]
    return ranked


def evaluate(ranked: npt.NDArray[np.int64], truth: sp.csr_matrix, k: int) -> tuple[float, float]:
    """Mean NDCG@k and Recall@k over the test users, with recpilot's metric code."""
    return float(np.mean(metrics.ndcg(ranked, truth, k))), float(np.mean(metrics.recall(ranked, truth, k)))


def run_model(
    result: RunResult, command: list[str], out_dir: Path, split: Split, args: argparse.Namespace
) -> RunResult:
    """Run one library's process for one model, score its lists and fill ``result`` (errors included)."""
    started = time.perf_counter()
    try:
        record = run_child(command, out_dir, args.timeout)
        ranked = read_ranked(out_dir / "recommendations.csv", split.test_users, args.k)
        result.ndcg, result.recall = evaluate(ranked, split.truth(), args.k)
    except Exception as exc:  # any failure becomes an "error: ..." row; the run goes on
        result.error = _one_line(str(exc) or type(exc).__name__)
        print(f"  {result.library:9s} {result.model:8s} error: {result.error}", flush=True)
        return result
    result.fit_seconds = record["fit_seconds"]
    result.recommend_seconds = record["recommend_seconds"]
    result.peak_rss_mb = record["peak_rss_mb"]
    result.import_rss_mb = record.get("import_rss_mb")
    result.params = record.get("params", {})
    print(
        f"  {result.library:9s} {result.model:8s} ndcg={result.ndcg:.4f} recall={result.recall:.4f} "
        f"fit={result.fit_seconds:.2f}s rec={result.recommend_seconds:.2f}s "
        f"peak={result.peak_rss_mb:.0f}MB ({time.perf_counter() - started:.0f}s wall)",
        flush=True,
    )
    return result


def compare_dataset(name: str, args: argparse.Namespace) -> list[RunResult]:
    """Split one dataset, run every model in both libraries and return the rows."""
    name, dataset = load_entry(name)
    split = leave_last_out(dataset)
    print(
        f"{name}: {dataset.n_users} users, {dataset.n_items} items, {dataset.n_interactions} interactions; "
        f"{len(split.test_users)} test users",
        flush=True,
    )
    work = Path(args.workdir) / name
    exported = export_split(split, work)
    common = [
        "--train", str(exported.train),
        "--test-users", str(exported.test_users),
        "--n-items", str(exported.n_items),
        "--k", str(args.k),
        "--seed", str(args.seed),
        "--repeat", str(args.repeat),
    ]  # fmt: skip
    rows: list[RunResult] = []
    for model in args.models:
        ours_dir = work / model / "recpilot"
        ours = [sys.executable, str(BENCH_DIR / "run_recpilot.py"), "--model", model, *common]
        ours += ["--params", json.dumps(args.overrides.get(model, {})), "--out", str(ours_dir)]
        rows.append(run_model(RunResult(name, model, "recpilot"), ours, ours_dir, split, args))
        if args.skip_peer:
            continue
        try:
            spec = peer_spec(model, args.overrides.get(model, {}))
        except Exception as exc:  # e.g. our model is missing, so its defaults are unknown
            error = _one_line(f"no peer params: {exc}")
            rows.append(RunResult(name, model, "rectools", error=error))
            continue
        peer_dir = work / model / "rectools"
        peer = [str(args.peer_python), str(BENCH_DIR / "peer" / "run_rectools.py"), "--model", model]
        peer += ["--params", json.dumps(spec.params), *common, "--out", str(peer_dir)]
        if spec.binary:
            peer.append("--binary-weights")
        peer_row = RunResult(name, model, "rectools", note=spec.note)
        rows.append(run_model(peer_row, peer, peer_dir, split, args))
    return rows


# -- reporting -----------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _delta(ours: RunResult, peer: RunResult | None) -> str:
    """``ours/peer - 1`` of NDCG@k in percent, on our row."""
    if peer is None or ours.ndcg is None or peer.ndcg is None or peer.ndcg == 0:
        return ""
    return f"{(ours.ndcg / peer.ndcg - 1) * 100:+.1f}%"


def markdown_table(rows: list[RunResult], k: int) -> str:
    """One markdown table, one line per (dataset, model, library)."""
    header = [
        "dataset", "model", "library", f"NDCG@{k}", f"Recall@{k}",
        "fit s", "recommend-all s", "peak MB", f"NDCG@{k} delta vs peer",
    ]  # fmt: skip
    peers = {(r.dataset, r.model): r for r in rows if r.library == "rectools"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        if row.error is not None:
            cells = [row.dataset, row.model, row.library, f"error: {row.error}", "", "", "", "", ""]
        else:
            delta = _delta(row, peers.get((row.dataset, row.model))) if row.library == "recpilot" else ""
            cells = [
                row.dataset, row.model, row.library, _fmt(row.ndcg, 4), _fmt(row.recall, 4),
                _fmt(row.fit_seconds, 2), _fmt(row.recommend_seconds, 2), _fmt(row.peak_rss_mb, 0), delta,
            ]  # fmt: skip
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def reproduce_command(args: argparse.Namespace) -> str:
    """The command line that repeats this run from the repository root."""
    python = sys.executable
    if python.startswith(str(REPO_ROOT)):
        python = os.path.relpath(python, REPO_ROOT)
    parts = [
        python, "benchmarks/compare_peers.py",
        "--datasets", ",".join(args.datasets), "--models", ",".join(args.models),
        "--k", str(args.k), "--seed", str(args.seed), "--repeat", str(args.repeat),
    ]  # fmt: skip
    for assignment in args.assignments:
        parts += ["--set", assignment]
    if args.skip_peer:
        parts.append("--skip-peer")
    else:
        parts += ["--peer-python", str(args.peer_python)]
    return "cd " + shlex.quote(str(REPO_ROOT)) + " && " + shlex.join(parts)


# -- command line --------------------------------------------------------------------------------------


def _csv_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _overrides(assignments: list[str]) -> dict[str, dict[str, Any]]:
    """``["sasrec.epochs=3"]`` -> ``{"sasrec": {"epochs": 3}}`` (values parsed as JSON, else kept as text)."""
    result: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        target, sep, raw = assignment.partition("=")
        model, dot, key = target.partition(".")
        if not sep or not dot or not key:
            raise SystemExit(f"--set expects MODEL.FIELD=VALUE, got {assignment!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        result.setdefault(model.strip(), {})[key.strip()] = value
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--datasets",
        type=_csv_list,
        default=list(DATASETS),
        help=f"comma-separated names ({', '.join(DATASETS)}) or dataset paths (S3-Rec .txt, MovieLens, CSV)",
    )
    parser.add_argument("--models", type=_csv_list, default=list(ALL_MODELS), help="comma-separated")
    parser.add_argument(
        "--peer-python",
        type=Path,
        default=Path(os.environ.get("PEER_VENV", DEFAULT_PEER_VENV)) / "bin" / "python",
        help="the peer venv's python (default: $PEER_VENV/bin/python, else benchmarks/.peer-venv/bin/python)",
    )
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42, help="seed of the stochastic models")
    parser.add_argument("--repeat", type=int, default=1, help="report the median of N fit/recommend timings")
    parser.add_argument("--skip-peer", action="store_true", help="run only recpilot")
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="MODEL.FIELD=VALUE",
        help="set one of our config fields, e.g. sasrec.epochs=3; the peer gets the same value (repeatable)",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per model process")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file with every figure")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="where the splits are written")
    args = parser.parse_args(argv)
    args.datasets = [dataset_entry(entry) for entry in args.datasets]
    args.overrides = _overrides(args.assignments)
    unknown = sorted(set(args.models) - set(ALL_MODELS))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join(ALL_MODELS)}")
    if not args.skip_peer and not args.peer_python.exists():
        parser.error(
            f"peer python {args.peer_python} not found: run benchmarks/setup_peer_venv.sh "
            "(or PEER_VENV=/path benchmarks/setup_peer_venv.sh), pass --peer-python, or use --skip-peer"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point: returns the process exit status."""
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = os.getloadavg()
    rows: list[RunResult] = []
    for name in args.datasets:
        rows.extend(compare_dataset(name, args))
    table = markdown_table(rows, args.k)
    print()
    print(table)
    print()
    print(f"Reproduce: {reproduce_command(args)}")
    load_after = os.getloadavg()
    wall_seconds = time.perf_counter() - started
    machine = {
        "cpus": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "wall_seconds": wall_seconds,
    }
    print(
        f"Machine: {machine['cpus']} CPUs, load average {load_before[0]:.1f} before / "
        f"{load_after[0]:.1f} after; {wall_seconds:.0f} s in all. "
        f"Timings are the median of {args.repeat} run(s) per model."
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": reproduce_command(args),
        "k": args.k,
        "machine": machine,
        "rows": [asdict(row) for row in rows],
        "table": table,
    }
    args.output.write_text(json.dumps(payload, indent=2))
    print(f"Figures written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
