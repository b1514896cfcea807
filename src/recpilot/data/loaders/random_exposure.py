"""Datasets with a random-exposure test: logged (self-selected) ratings plus ratings of random items.

Both layouts become a :class:`~recpilot.data.dataset.Dataset` of the logged ratings whose
``extra[RANDOM_EXPOSURE_TEST]`` holds the ratings users gave to items chosen for them at random (internal
indices, the same columns as ``interactions``); :func:`recpilot.data.splits.random_exposure_split`
turns it into the split that unbiased evaluation and the simulator audit use.

- **Coat** (Schnabel et al. 2016): ``train.ascii`` and ``test.ascii``, whitespace-separated dense
  user x item matrices, 0 = no rating, 1-5 = rating; optional ``item_features.ascii`` /
  ``item_features_map.txt`` (one-hot item attributes, kept as the ``categories`` list) and
  ``user_features.ascii`` / ``user_features_map.txt`` (one-hot user features).
- **Yahoo! R3** (Marlin & Zemel 2009): ``ydata-ymusic-rating-study-v1_0-train.txt`` (ratings of songs
  the users chose) and ``...-test.txt`` (ratings of randomly selected songs), tab-separated
  ``user song rating``, ratings 1-5, ids from 1. Test users who have no logged rating are dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.data.splits import RANDOM_EXPOSURE_TEST
from recpilot.errors import DataError

COAT_FILES = ("train.ascii", "test.ascii")
YAHOO_FILES = ("ydata-ymusic-rating-study-v1_0-train.txt", "ydata-ymusic-rating-study-v1_0-test.txt")
CATEGORIES = "categories"


def load_coat(folder: str | Path, *, name: str | None = None) -> Dataset:
    """Load the Coat folder (see the module docstring).

    Raises:
        DataError: A matrix is missing, not numeric, of another shape than the other, or holds a
            rating outside 0-5; the message names the file.
    """
    root = Path(folder)
    train = _dense_matrix(root / COAT_FILES[0])
    test = _dense_matrix(root / COAT_FILES[1])
    if train.shape != test.shape:
        raise DataError(
            f"test matrix is {test.shape[0]}x{test.shape[1]} but train.ascii is "
            f"{train.shape[0]}x{train.shape[1]}; both must be users x items",
            path=root / COAT_FILES[1],
        )
    n_users, n_items = train.shape
    catalog = pd.DataFrame(
        {Columns.ITEM: np.arange(n_items), Columns.TITLE: [f"coat {i}" for i in range(n_items)]}
    )
    names = _feature_names(root / "item_features_map.txt")
    if names and (root / "item_features.ascii").is_file():
        onehot = _dense_matrix(root / "item_features.ascii", ratings=False)
        if onehot.shape == (n_items, len(names)):
            catalog[CATEGORIES] = [[names[j] for j in np.flatnonzero(row)] for row in onehot]
    users = None
    user_names = _feature_names(root / "user_features_map.txt")
    if user_names and (root / "user_features.ascii").is_file():
        table = _dense_matrix(root / "user_features.ascii", ratings=False)
        if table.shape == (n_users, len(user_names)):
            users = pd.DataFrame(table.astype(np.int8), columns=user_names)
            users.insert(0, Columns.USER, np.arange(n_users))
    return _with_test(_frame(train), _frame(test), catalog, users, name or root.name, root)


def load_yahoo_r3(folder: str | Path, *, name: str | None = None) -> Dataset:
    """Load the Yahoo! R3 folder (see the module docstring).

    Raises:
        DataError: A file is missing or a line is not ``user<TAB>song<TAB>rating`` with integer ids
            and a rating in 1-5; the message names the file and the line.
    """
    root = Path(folder)
    train = _triples(root / YAHOO_FILES[0])
    test = _triples(root / YAHOO_FILES[1])
    items = np.union1d(train[Columns.ITEM].unique(), test[Columns.ITEM].unique())
    catalog = pd.DataFrame({Columns.ITEM: items, Columns.TITLE: [f"song {i}" for i in items.tolist()]})
    return _with_test(train, test, catalog, None, name or "yahoo-r3", root)


def _with_test(
    train: pd.DataFrame,
    test: pd.DataFrame,
    catalog: pd.DataFrame,
    users: pd.DataFrame | None,
    name: str,
    root: Path,
) -> Dataset:
    dataset = Dataset.from_frames(train, catalog, users, name=name, source=root)
    known = test[test[Columns.USER].isin(dataset.users.external_ids)]
    table = pd.DataFrame(
        {
            Columns.USER_IDX: dataset.users.to_internal(known[Columns.USER]).astype(np.int32),
            Columns.ITEM_IDX: dataset.items.to_internal(known[Columns.ITEM]).astype(np.int32),
            Columns.RATING: known[Columns.RATING].to_numpy(np.float32),
            Columns.TIMESTAMP: np.zeros(len(known), dtype=np.int64),
        }
    )
    if table.empty:
        raise DataError("the random-exposure test has no user who also has logged ratings", path=root)
    dataset.extra[RANDOM_EXPOSURE_TEST] = table
    return dataset


def _frame(matrix: npt.NDArray[np.float64]) -> pd.DataFrame:
    users, items = np.nonzero(matrix)
    return pd.DataFrame({Columns.USER: users, Columns.ITEM: items, Columns.RATING: matrix[users, items]})


def _dense_matrix(path: Path, *, ratings: bool = True) -> npt.NDArray[np.float64]:
    if not path.is_file():
        raise DataError("file not found; a Coat folder holds train.ascii and test.ascii", path=path)
    rows: list[list[float]] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append([float(token) for token in line.split()])
            except ValueError:
                raise DataError("expected numbers separated by spaces", path=path, line=number) from None
            if len(rows[-1]) != len(rows[0]):
                raise DataError(
                    f"row has {len(rows[-1])} values, the first row {len(rows[0])}", path=path, line=number
                )
    if not rows:
        raise DataError("the file is empty", path=path)
    matrix = np.asarray(rows)
    if ratings and ((matrix < 0) | (matrix > 5) | (matrix != np.round(matrix))).any():
        row = int(np.flatnonzero(((matrix < 0) | (matrix > 5) | (matrix != np.round(matrix))).any(axis=1))[0])
        raise DataError("ratings must be whole numbers 0-5 (0 = no rating)", path=path, line=row + 1)
    return matrix


def _feature_names(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.strip()
    ]


def _triples(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"file not found; a Yahoo! R3 folder holds {' and '.join(YAHOO_FILES)}", path=path)
    users: list[int] = []
    items: list[int] = []
    ratings: list[int] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            try:
                user, item, rating = (int(f) for f in fields)
            except ValueError:
                raise DataError(
                    "expected 'user<TAB>song<TAB>rating' with integer ids and rating", path=path, line=number
                ) from None
            if not 1 <= rating <= 5:
                raise DataError(f"rating {rating} is outside 1-5", path=path, line=number)
            users.append(user)
            items.append(item)
            ratings.append(rating)
    if not users:
        raise DataError("the file is empty", path=path)
    return pd.DataFrame(
        {Columns.USER: users, Columns.ITEM: items, Columns.RATING: np.asarray(ratings, dtype=np.float32)}
    )
