"""Recognising a dataset's layout from the files themselves."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from enum import StrEnum
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from recpilot.errors import DataError

SUPPORTED_LAYOUTS = (
    "a built-in dataset name such as 'ml-latest-small' (recpilot.data.builtin.BUILTIN_DATASETS)",
    "a MovieLens folder or .zip: 100K (u.data, u.item), 1M/10M (ratings.dat, movies.dat) or "
    "latest/20M/25M/32M (ratings.csv, movies.csv)",
    "an S3-Rec sequence file (.txt, 'user item item ...' per line), or a folder holding one with its "
    "<name>_item2attributes.json",
    "an interactions table in CSV, TSV or Parquet (.csv, .tsv, .parquet) with user and item columns",
    "a random-exposure folder: Coat (train.ascii, test.ascii) or Yahoo! R3 "
    "(ydata-ymusic-rating-study-v1_0-train.txt, ydata-ymusic-rating-study-v1_0-test.txt)",
)

MovieLensLayout = Literal["100k", "1m", "latest"]

TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".parquet", ".pq")
CANDIDATE_SEPARATORS = (",", ";", "\t", "|")
# Names the official archives unzip into, to point people who type one at the downloader.
_MOVIELENS_RELEASE = re.compile(r"^ml-(100k|1m|10m|20m|25m|32m|latest(-small)?)$", re.IGNORECASE)


class SourceKind(StrEnum):
    """What kind of data a path holds."""

    MOVIELENS = "movielens"
    SEQUENCES = "sequences"
    TABLE = "table"
    COAT = "coat"
    YAHOO_R3 = "yahoo-r3"


@dataclass(frozen=True)
class DetectedSource:
    """The outcome of :func:`detect_source`.

    Attributes:
        kind: The layout family.
        path: The file or folder to hand to that family's loader.
    """

    kind: SourceKind
    path: Path


def find_file(folder: Traversable, name: str) -> Traversable | None:
    """The file ``name`` (or its gzipped ``name.gz``) directly inside ``folder``, if there is one."""
    for candidate in (name, f"{name}.gz"):
        child = folder.joinpath(candidate)
        if child.is_file():
            return child
    return None


def movielens_layout(folder: Traversable) -> MovieLensLayout | None:
    """Which MovieLens layout ``folder`` holds, from the names of its files, or ``None``."""
    if find_file(folder, "u.data") is not None:
        return "100k"
    if find_file(folder, "ratings.dat") is not None:
        return "1m"
    if find_file(folder, "ratings.csv") is not None and find_file(folder, "movies.csv") is not None:
        return "latest"
    return None


def movielens_root(folder: Traversable) -> Traversable | None:
    """The folder holding the MovieLens files: ``folder`` itself or its one data-bearing subfolder.

    The official archives unzip into a single top folder (``ml-100k/``, ``ml-10M100K/``), and archives
    made on macOS add a ``__MACOSX/`` folder beside it.
    """
    if movielens_layout(folder) is not None:
        return folder
    inner = [
        child
        for child in folder.iterdir()
        if child.is_dir() and not child.name.startswith(("__MACOSX", ".")) and movielens_layout(child)
    ]
    return inner[0] if len(inner) == 1 else None


def sequence_file_in(folder: Path) -> Path | None:
    """The S3-Rec sequence file in ``folder``: the ``.txt`` with an ``_item2attributes.json`` beside it.

    Failing that, the one ``.txt`` whose first line is a row of integers (READMEs and provenance notes
    are ``.txt`` files too). ``None`` when there is none.

    Raises:
        DataError: The folder holds several candidates (e.g. Beauty and Sports): which one is meant is
            ambiguous, so the message names them and asks for the file.
    """
    texts = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".txt")
    paired = [p for p in texts if (p.parent / f"{p.stem}_item2attributes.json").is_file()]
    found = paired or [p for p in texts if _first_line_is_integers(p)]
    if len(found) > 1:
        raise DataError(
            f"this folder holds {len(found)} S3-Rec datasets ({', '.join(p.name for p in found)}), so "
            "which one to load is ambiguous; pass the .txt file of the one you want",
            path=folder,
        )
    return found[0] if found else None


def sniff_separator(sample: str) -> str:
    """Guess the field separator of a delimited text from its first lines.

    The separator is the candidate that splits the header line into the most fields while (nearly)
    every other sampled line has as many. A ``|`` inside values (genre lists) does not split the header,
    so it never wins over the real separator. Falls back to ``,``.
    """
    lines = [line for line in sample.splitlines() if line.strip()][:50]
    best, best_fields = ",", 1
    for sep in CANDIDATE_SEPARATORS:
        counts = [len(fields) for fields in csv.reader(lines, delimiter=sep)]
        if not counts:
            break
        agreeing = sum(count == counts[0] for count in counts) / len(counts)
        if counts[0] > best_fields and agreeing >= 0.9:
            best, best_fields = sep, counts[0]
    return best


def detect_source(source: str | Path) -> DetectedSource:
    """Recognise the layout of the file or folder at ``source``.

    Raises:
        DataError: ``source`` does not exist or holds no layout recpilot can read; the message lists the
            layouts that are supported.
    """
    path = Path(source).expanduser()
    if not path.exists():
        hint = ""
        if _MOVIELENS_RELEASE.match(path.name):
            hint = (
                f"; to fetch it, run recpilot.data.download.download_movielens({path.name.lower()!r}) "
                "and load the folder it returns"
            )
        raise DataError(f"no such file or folder{hint}; {_supported()}", path=path)
    if path.is_dir():
        if movielens_root(path) is not None:
            return DetectedSource(SourceKind.MOVIELENS, path)
        if all((path / name).is_file() for name in ("train.ascii", "test.ascii")):
            return DetectedSource(SourceKind.COAT, path)
        if all((path / f"ydata-ymusic-rating-study-v1_0-{part}.txt").is_file() for part in ("train", "test")):
            return DetectedSource(SourceKind.YAHOO_R3, path)
        sequences = sequence_file_in(path)
        if sequences is not None:
            return DetectedSource(SourceKind.SEQUENCES, sequences)
        raise DataError(f"this folder holds no dataset layout recpilot recognises; {_supported()}", path=path)
    name = path.name.lower()
    if name.endswith(".zip"):
        return DetectedSource(SourceKind.MOVIELENS, path)
    if name.endswith(".txt"):
        return DetectedSource(SourceKind.SEQUENCES, path)
    if name.endswith(TABLE_SUFFIXES):
        return DetectedSource(SourceKind.TABLE, path)
    raise DataError(f"unrecognised file type {path.suffix!r}; {_supported()}", path=path)


def _supported() -> str:
    return "supported layouts: " + "; ".join(f"({i}) {text}" for i, text in enumerate(SUPPORTED_LAYOUTS, 1))


def _first_line_is_integers(path: Path) -> bool:
    with path.open("rb") as handle:
        tokens = handle.readline().split()
    return bool(tokens) and all(token.isdigit() for token in tokens)
