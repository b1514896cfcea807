"""Datasets shipped inside the package, usable with no download.

``ml-latest-small`` is MovieLens latest-small (GroupLens, F. M. Harper and J. A. Konstan, 2015),
redistributed under its terms, which sit beside the data in ``builtin/ml-latest-small/README.txt``:
research and non-commercial use, with citation.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable

from recpilot.data.dataset import Dataset
from recpilot.data.loaders.movielens import load_movielens
from recpilot.errors import ConfigError

BUILTIN_DATASETS: tuple[str, ...] = ("ml-latest-small",)


def builtin_folder(name: str = "ml-latest-small") -> Traversable:
    """The package folder holding the files of the built-in dataset ``name``.

    Raises:
        ConfigError: ``name`` is not a built-in dataset.
    """
    if name not in BUILTIN_DATASETS:
        raise ConfigError(
            f"unknown built-in dataset {name!r}; the built-in datasets are {list(BUILTIN_DATASETS)} "
            "(other MovieLens releases: recpilot.data.download.download_movielens)"
        )
    return files("recpilot.data") / "builtin" / name


def load_builtin(name: str = "ml-latest-small") -> Dataset:
    """Load a built-in dataset, parsing it once per process.

    The same :class:`~recpilot.data.Dataset` object is returned on every call, so treat its tables as
    read-only (derive new datasets with :meth:`~recpilot.data.Dataset.with_interactions` or the splits).

    Args:
        name: One of :data:`BUILTIN_DATASETS`.

    Raises:
        ConfigError: ``name`` is not a built-in dataset.
    """
    return _load(name)


@cache
def _load(name: str) -> Dataset:
    return load_movielens(builtin_folder(name), name=name)
