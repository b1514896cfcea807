"""Loaders for the dataset layouts recpilot reads, and :func:`load_dataset`, which picks the right one."""

from __future__ import annotations

from pathlib import Path

from recpilot.data.dataset import Dataset
from recpilot.data.loaders.detect import SUPPORTED_LAYOUTS, DetectedSource, SourceKind, detect_source
from recpilot.data.loaders.movielens import load_movielens
from recpilot.data.loaders.random_exposure import load_coat, load_yahoo_r3
from recpilot.data.loaders.sequences import load_sequences
from recpilot.data.loaders.tabular import load_tabular
from recpilot.errors import ConfigError

__all__ = [
    "SUPPORTED_LAYOUTS",
    "DetectedSource",
    "SourceKind",
    "detect_source",
    "load_coat",
    "load_dataset",
    "load_movielens",
    "load_sequences",
    "load_tabular",
    "load_yahoo_r3",
]


def load_dataset(source: str | Path, *, items: str | Path | None = None, name: str | None = None) -> Dataset:
    """Load a dataset from a built-in name or a path, recognising its layout.

    Args:
        source: A built-in dataset name (``"ml-latest-small"``), or a path to a MovieLens folder or
            ``.zip``, an S3-Rec ``.txt`` sequence file (or a folder holding one with its
            ``_item2attributes.json``), a CSV/Parquet interactions table, or a random-exposure folder (Coat,
            Yahoo! R3; the random test is kept in ``extra``, see
            :mod:`recpilot.data.loaders.random_exposure`). An existing path wins over
            a built-in name of the same spelling.
        items: An items table for a CSV/Parquet ``source`` (see :func:`load_tabular`).
        name: Dataset name; defaults to the built-in name or the file or folder name.

    Raises:
        DataError: The path does not exist, holds no supported layout (the message lists them), or one
            of its files is malformed (the message names the file, the line and the problem).
        ConfigError: ``items`` was given for a source that is not a table.
    """
    if isinstance(source, str) and not Path(source).expanduser().exists():
        # The built-in module loads through this package, so it is imported here, on demand.
        from recpilot.data import builtin

        if source in builtin.BUILTIN_DATASETS:
            _no_items(items, f"the built-in dataset {source!r}")
            dataset = builtin.load_builtin(source)
            return dataset if name is None else dataset.with_interactions(dataset.interactions, name=name)
    detected = detect_source(source)
    if detected.kind is SourceKind.TABLE:
        return load_tabular(detected.path, items=items, name=name)
    _no_items(items, str(detected.path))
    if detected.kind is SourceKind.MOVIELENS:
        return load_movielens(detected.path, name=name)
    if detected.kind is SourceKind.COAT:
        return load_coat(detected.path, name=name)
    if detected.kind is SourceKind.YAHOO_R3:
        return load_yahoo_r3(detected.path, name=name)
    return load_sequences(detected.path, name=name)


def _no_items(items: str | Path | None, source: str) -> None:
    if items is not None:
        raise ConfigError(
            f"items={str(items)!r} only applies to CSV/Parquet interaction tables, and {source} is not one; "
            "drop the items argument"
        )
