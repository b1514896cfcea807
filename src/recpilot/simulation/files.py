"""Writing a simulation's result files atomically: a reader sees the old file or the new one, never half.

Every file goes to a hidden temporary sibling first and is renamed over the target (``os.replace``,
atomic on POSIX and Windows within one folder); a failed write removes the temporary and leaves the
target as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    _replace_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` (without its index) to the Parquet file ``path`` atomically."""
    _replace_with(path, lambda tmp: frame.to_parquet(tmp, index=False))


def _replace_with(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
