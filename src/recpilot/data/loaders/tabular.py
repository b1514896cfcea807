"""Interaction tables in CSV or Parquet, with an optional items table.

Column names are matched case-insensitively against common aliases, so ``userId,movieId,rating`` and
``user;item;score;time`` both load. CSV separators (``,``, ``;``, tab, ``|``) are sniffed from the first
lines.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.data.loaders.delimited import DelimitedFile, Table, open_binary
from recpilot.data.loaders.detect import sniff_separator
from recpilot.errors import DataError

USER_ALIASES = ("user_id", "user", "userid")
ITEM_ALIASES = ("item_id", "item", "itemid", "movieid", "movie_id")
RATING_ALIASES = ("rating", "score")
TIMESTAMP_ALIASES = ("timestamp", "time", "ts")
TITLE_ALIASES = ("title",)
TEXT_ALIASES = ("text", "description")
LIST_SEPARATOR = "|"

_PARQUET_SUFFIXES = (".parquet", ".pq")
_SNIFF_BYTES = 1 << 16
_EPOCH = pd.Timestamp(0, tz="UTC")


def load_tabular(path: str | Path, *, items: str | Path | None = None, name: str | None = None) -> Dataset:
    """Load an interactions table, and optionally an items table, from CSV or Parquet files.

    The interactions need a user and an item column (``user_id``/``user``/``userId``,
    ``item_id``/``item``/``itemId``/``movieId``, any case) and may have a rating (``rating``/``score``)
    and a time (``timestamp``/``time``/``ts``). Times that are text are parsed as dates (naive ones taken
    as UTC) and stored as epoch seconds. Ids are kept as they appear in the file.

    The items table needs an item column and may have ``title`` and ``text`` (or ``description``);
    its other columns become catalog attributes, and a text column whose values contain ``|`` is split
    into lists (``Action|Comedy`` -> ``["Action", "Comedy"]``).

    Args:
        path: The interactions file (``.csv``, ``.tsv``, optionally gzipped, or ``.parquet``).
        items: The items file, in the same formats.
        name: Dataset name; defaults to the file's stem.

    Raises:
        DataError: A file is malformed; the message names the file, the line (the row, for Parquet)
            and the problem.
    """
    path = Path(path)
    interactions = _interactions(read_table(path))
    catalog = _catalog(read_table(Path(items))) if items is not None else None
    if catalog is not None:
        interactions, catalog = _align_item_ids(interactions, catalog)
    stem = path.name.split(".")[0]
    return Dataset.from_frames(interactions, catalog, name=name or stem, source=path)


def read_table(path: Path) -> Table:
    """Read a CSV (separator sniffed) or Parquet file into a :class:`Table` that can locate its rows.

    Raises:
        DataError: The file cannot be read or parsed, or it has no rows.
    """
    if path.name.lower().endswith(_PARQUET_SUFFIXES):
        return _read_parquet(path)
    try:
        with open_binary(path) as handle:
            sample = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc}", path=path) from None
    text = sample.decode("utf-8", errors="replace")
    if len(sample) == _SNIFF_BYTES:
        text = text[: text.rfind("\n") + 1]  # the last line may be cut short
    source = DelimitedFile(path, sep=sniff_separator(text), header=True, encoding="utf-8-sig")
    return source.read()


def _read_parquet(path: Path) -> Table:
    try:
        frame = pd.read_parquet(path)
    except ImportError:
        raise DataError("reading Parquet needs pyarrow: pip install 'recpilot[parquet]'", path=path) from None
    except (OSError, ValueError) as exc:
        raise DataError(f"not a readable Parquet file ({exc})", path=path) from None
    if len(frame) == 0:
        raise DataError("the table has no rows", path=path)
    frame.columns = pd.Index([str(c).strip() for c in frame.columns])
    return Table(frame, None, path=str(path))


def _find_column(table: Table, aliases: tuple[str, ...], what: str) -> str | None:
    found = [c for c in table.frame.columns if c.lower() in aliases]
    if len(found) > 1:
        raise DataError(
            f"several columns could hold the {what}: {found}; rename all but one",
            path=table.path,
            line=_header_line(table),
        )
    return found[0] if found else None


def _require_column(table: Table, aliases: tuple[str, ...], what: str) -> str:
    column = _find_column(table, aliases, what)
    if column is None:
        raise DataError(
            f"no {what} column: expected one of {list(aliases)} (any case); the columns are "
            f"{list(table.frame.columns)}",
            path=table.path,
            line=_header_line(table),
        )
    return column


def _header_line(table: Table) -> int | None:
    return 1 if table.source is not None else None


def _ids(table: Table, column: str) -> npt.NDArray[np.generic]:
    values = table.frame[column]
    empty = values.isna().to_numpy()
    if empty.any():
        raise table.error_at(int(np.flatnonzero(empty)[0]), f"no value for {column!r}")
    return np.asarray(values.to_numpy())


def _interactions(table: Table) -> pd.DataFrame:
    user = _require_column(table, USER_ALIASES, "user id")
    item = _require_column(table, ITEM_ALIASES, "item id")
    rating = _find_column(table, RATING_ALIASES, "rating")
    timestamp = _find_column(table, TIMESTAMP_ALIASES, "timestamp")
    columns: dict[str, npt.NDArray[np.generic]] = {
        Columns.USER: _ids(table, user),
        Columns.ITEM: _ids(table, item),
    }
    if rating is not None:
        columns[Columns.RATING] = table.numbers(rating).to_numpy(dtype=np.float32)
    if timestamp is not None:
        columns[Columns.TIMESTAMP] = _epoch_seconds(table, timestamp)
    return pd.DataFrame(columns)


def _epoch_seconds(table: Table, column: str) -> npt.NDArray[np.int64]:
    values = table.frame[column]
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values if values.dt.tz is not None else values.dt.tz_localize("UTC")
    else:
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().sum() == values.notna().sum():
            return np.asarray(np.floor(table.numbers(column).to_numpy(dtype=np.float64)), dtype=np.int64)
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
        bad = parsed.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            shown = values.iloc[row]
            problem = f"no value for {column!r}" if pd.isna(shown) else f"{column} {shown!r} is not a time"
            raise table.error_at(row, f"{problem} (expected epoch seconds or a date like 2024-05-01 12:00)")
    empty = parsed.isna().to_numpy()
    if empty.any():
        raise table.error_at(int(np.flatnonzero(empty)[0]), f"no value for {column!r}")
    return np.asarray((parsed - _EPOCH) // pd.Timedelta(seconds=1), dtype=np.int64)


def _catalog(table: Table) -> pd.DataFrame:
    item = _require_column(table, ITEM_ALIASES, "item id")
    title = _find_column(table, TITLE_ALIASES, "title")
    text = _find_column(table, TEXT_ALIASES, "text")
    _ids(table, item)
    table.check_unique(item, "item id")
    renames = {item: Columns.ITEM, title: Columns.TITLE, text: Columns.TEXT}
    catalog = table.frame.rename(columns={k: v for k, v in renames.items() if k is not None})
    for column in catalog.columns:
        if column in (Columns.ITEM, Columns.TITLE, Columns.TEXT):
            continue
        values = catalog[column]
        if not pd.api.types.is_string_dtype(values):
            continue
        if values.str.contains(LIST_SEPARATOR, regex=False, na=False).any():
            catalog[column] = [_split_list(v) for v in values.to_numpy()]
    return catalog


def _split_list(value: object) -> list[str]:
    if not isinstance(value, str):
        return []
    return [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()]


def _align_item_ids(interactions: pd.DataFrame, catalog: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    # Ids read as numbers in one file and as text in the other (e.g. "B001" beside 42) would never match;
    # compare them as text then.
    numeric = [pd.api.types.is_numeric_dtype(t[Columns.ITEM]) for t in (interactions, catalog)]
    if numeric[0] == numeric[1]:
        return interactions, catalog
    return (
        interactions.assign(**{Columns.ITEM: interactions[Columns.ITEM].astype(str)}),
        catalog.assign(**{Columns.ITEM: catalog[Columns.ITEM].astype(str)}),
    )
