"""EASE on Amazon Sports- and Toys-sized data in the S3-Rec layout: fit time and peak memory.

The issue asks that EASE (or its scalable variant) completes ``recpilot evaluate`` on Amazon Sports and
Toys in the S3-Rec layout without a crash. Those files are not redistributable and are not in
``../shared/data``; when a folder holding ``Sports_and_Outdoors.txt`` / ``Toys_and_Games.txt`` is given
with ``--data DIR`` they are used as they are. Otherwise this script writes synthetic sequence files
with the published shapes of the S3-Rec preprocessing (Sports: 35,598 users, 18,357 items, 296,337
interactions; Toys: 19,412 users, 11,924 items, 167,597 interactions), Zipf-like item popularity and
at least five items per user, so the size of the problem (item-item Gram matrix, memory, fit time) is
the real one; the accuracy figures of the synthetic files mean nothing.

Each dataset is evaluated in a child process (``recpilot evaluate --json``) whose peak resident memory
is read from ``os.wait4``'s resource usage of that child.

Run: ``.venv/bin/python benchmarks/ease_scale.py [--models ease,ease-lowrank] [--data DIR] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: name -> (users, items, interactions) after the S3-Rec 5-core preprocessing.
SHAPES = {
    "Sports_and_Outdoors": (35_598, 18_357, 296_337),
    "Toys_and_Games": (19_412, 11_924, 167_597),
}


def write_synthetic(path: Path, users: int, items: int, interactions: int, seed: int = 0) -> None:
    """Write an S3-Rec sequence file with the given shape (every item used, every user >= 5 items)."""
    rng = np.random.default_rng(seed)
    extra = interactions - 5 * users
    lengths = 5 + rng.multinomial(extra, rng.dirichlet(np.full(users, 0.5)))
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    popularity /= popularity.sum()
    order = rng.permutation(items) + 1
    with path.open("w") as out:
        for user, length in enumerate(lengths, start=1):
            length = min(int(length), items)
            chosen = rng.choice(items, size=length, replace=False, p=popularity)
            out.write(" ".join([str(user), *map(str, order[chosen])]) + "\n")
    # Make sure every item appears at least once, like the 5-core files (append to the longest users).
    seen = set()
    for line in path.read_text().splitlines():
        seen.update(line.split()[1:])
    missing = [str(i) for i in range(1, items + 1) if str(i) not in seen]
    if missing:
        lines = path.read_text().splitlines()
        for index, item in enumerate(missing):
            lines[index % users] += f" {item}"
        path.write_text("\n".join(lines) + "\n")


def evaluate(path: Path, models: str) -> dict[str, object]:
    """Run ``recpilot evaluate`` on ``path`` in a child process; wall time, its peak RSS and its JSON."""
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        start = time.perf_counter()
        command = [str(Path(sys.executable).with_name("recpilot")), "evaluate", "--dataset", str(path)]
        child = subprocess.Popen(
            [*command, "--models", models, "--json"],
            stdout=stdout,
            stderr=stderr,
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    result: dict[str, object] = {"returncode": child.returncode, "wall_s": round(wall, 1)}
    result["peak_rss_gib"] = round(usage.ru_maxrss / 2**20, 2)  # ru_maxrss is in KiB on Linux
    if child.returncode == 0:
        result["report"] = json.loads(out)
    else:
        result["stderr"] = err[-2000:]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="ease")
    parser.add_argument("--data", type=Path, help="folder holding the real S3-Rec files, if you have them")
    parser.add_argument("--out", type=Path, help="where to write the synthetic files (default: a temp dir)")
    parser.add_argument("--only", choices=sorted(SHAPES), help="one dataset only")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="ease-scale-"))
    out.mkdir(parents=True, exist_ok=True)
    for name, (users, items, interactions) in SHAPES.items():
        if args.only and name != args.only:
            continue
        real = args.data / f"{name}.txt" if args.data else None
        if real is not None and real.is_file():
            path, source = real, "real"
        else:
            path, source = out / f"{name}.txt", "synthetic, same shape"
            if not path.is_file():
                write_synthetic(path, users, items, interactions)
        result = evaluate(path, args.models)
        print(f"{name} ({source}; {users:,} users, {items:,} items, {interactions:,} interactions)")
        peak = result["peak_rss_gib"]
        print(f"  exit {result['returncode']}, wall {result['wall_s']} s, peak RSS {peak} GiB")
        report = result.get("report")
        if isinstance(report, dict):
            print("  " + json.dumps(report)[:1500])
        else:
            print("  " + str(result.get("stderr")))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
