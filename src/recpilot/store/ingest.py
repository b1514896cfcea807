"""Turn a :class:`~recpilot.data.Dataset` into rows for the store's tables (no database access here).

Rows are tuples in the column order given next to them: the bulk loaders hand them to the driver
as they are (``executemany`` or ``COPY``), which is several times faster than dicts through Core.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.errors import DataError

ValueType = Literal["str", "int", "float", "bool"]

YEAR: Final = "year"
ITEM_COLUMNS: Final = ("id", "external_id", "external_type", "title", "text", "year", "popularity")
ID_COLUMNS: Final = ("id", "external_id", "external_type")
VALUE_COLUMNS: Final = ("item_id", "name", "position", "value", "value_key", "value_num")
INTERACTION_COLUMNS: Final = ("id", "user_id", "item_id", "rating", "timestamp")
_KEY: Final = VALUE_COLUMNS.index("value_key")


@dataclass(frozen=True)
class TableRows:
    """Rows for one table.

    Attributes:
        columns: Column names, in the order of each row's values.
        rows: One tuple per row.
    """

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class AttributeRows:
    """One catalog attribute column, ready to insert.

    Attributes:
        name: Column name.
        value_type: Python type every value is restored to.
        multivalued: True when the column holds lists.
        values: ``item_attributes`` rows, one per value.
    """

    name: str
    value_type: ValueType
    multivalued: bool
    values: TableRows

    @property
    def n_values(self) -> int:
        """Number of distinct values (case-insensitive, as filters see them)."""
        return len({row[_KEY] for row in self.values.rows})


def id_rows(ids: Sequence[Any] | np.ndarray, kind: str, where: str | None) -> TableRows:
    """``(id, external_id, external_type)`` rows for an id map's external ids in internal order."""
    rows = [(index, *encode_id(value, kind, where)) for index, value in enumerate(ids)]
    seen: dict[str, Any] = {}
    for (_, text, _), value in zip(rows, ids, strict=True):
        if text in seen:
            raise DataError(
                f"{kind} ids {seen[text]!r} and {value!r} differ only in type; the catalog store keys ids "
                f"by their text, so give the {kind} id column a single type",
                path=where,
            )
        seen[text] = value
    return TableRows(ID_COLUMNS, rows)


def encode_id(value: Any, kind: str, where: str | None = None) -> tuple[str, str]:
    """An external id as ``(text, type)``; only integers and strings round-trip, so only they are allowed."""
    if isinstance(value, bool | np.bool_):
        raise DataError(f"{kind} id {value!r} is a boolean; use integers or strings as ids", path=where)
    if isinstance(value, int | np.integer):
        return str(int(value)), "int"
    if isinstance(value, str):
        return value, "str"
    raise DataError(
        f"{kind} id {value!r} has type {type(value).__name__}; the catalog store keeps integer or string "
        "ids only (convert the id column with .astype(str) or .astype(int))",
        path=where,
    )


def decode_id(text: str, type_name: str) -> int | str:
    """Inverse of :func:`encode_id`."""
    return int(text) if type_name == "int" else text


def item_rows(dataset: Dataset) -> TableRows:
    """``items`` rows: ids, title, text, year (when the catalog has an integral one) and popularity."""
    catalog = dataset.catalog
    ids = id_rows(dataset.items.external_ids, "item", dataset.source).rows
    years = _year_column(catalog) or [None] * len(ids)
    rows = list(
        zip(
            (row[0] for row in ids),
            (row[1] for row in ids),
            (row[2] for row in ids),
            catalog[Columns.TITLE].astype(str).tolist(),
            catalog[Columns.TEXT].astype(str).tolist(),
            years,
            dataset.item_popularity.astype(np.int64).tolist(),
            strict=True,
        )
    )
    return TableRows(ITEM_COLUMNS, rows)


def attribute_rows(dataset: Dataset) -> list[AttributeRows]:
    """Every attribute column of the catalog, exploded into one row per (item, value)."""
    result: list[AttributeRows] = []
    for name in dataset.attribute_columns:
        multivalued = False
        values: list[list[Any]] = []
        for cell in dataset.catalog[name].tolist():
            if isinstance(cell, list | tuple | np.ndarray | pd.Series):
                multivalued = True
                values.append([v for v in cell if not _missing(v)])
            else:
                values.append([] if _missing(cell) else [cell])
        value_type = _value_type(name, values, dataset.source)
        rows: list[tuple[Any, ...]] = []
        for item_id, cell_values in enumerate(values):
            for position, value in enumerate(cell_values):
                text, number = encode_value(value)
                rows.append((item_id, name, position, text, text.casefold(), number))
        result.append(AttributeRows(name, value_type, multivalued, TableRows(VALUE_COLUMNS, rows)))
    return result


def interaction_rows(dataset: Dataset) -> TableRows:
    """``interactions`` rows; ``id`` is the row position, which breaks timestamp ties."""
    table = dataset.interactions
    # tolist() turns numpy scalars into Python ints and floats, which every driver accepts.
    rows = list(
        zip(
            range(len(table)),
            table[Columns.USER_IDX].to_numpy(np.int64).tolist(),
            table[Columns.ITEM_IDX].to_numpy(np.int64).tolist(),
            table[Columns.RATING].to_numpy(np.float64).tolist(),
            table[Columns.TIMESTAMP].to_numpy(np.int64).tolist(),
            strict=True,
        )
    )
    return TableRows(INTERACTION_COLUMNS, rows)


def decode_value(text: str, number: float | None, value_type: str) -> Any:
    """Restore an attribute value stored by :func:`attribute_rows` to its Python type."""
    if value_type == "int" and number is not None:
        return int(number)
    if value_type == "float" and number is not None:
        return float(number)
    if value_type == "bool":
        return text == "true"
    return text


def _year_column(catalog: pd.DataFrame) -> list[int | None] | None:
    if YEAR not in catalog.columns:
        return None
    years: list[int | None] = []
    for value in catalog[YEAR].tolist():
        if _missing(value):
            years.append(None)
        elif isinstance(value, int | float | np.integer | np.floating) and float(value).is_integer():
            years.append(int(value))
        else:
            return None  # not a plain numeric year column: it stays an ordinary attribute only
    return years


def _missing(value: Any) -> bool:
    return (
        value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))
    )


def _value_type(name: str, values: list[list[Any]], where: str | None) -> ValueType:
    kinds: set[ValueType] = set()
    for cell in values:
        for value in cell:
            if isinstance(value, bool | np.bool_):
                kinds.add("bool")
            elif isinstance(value, int | np.integer):
                kinds.add("int")
            elif isinstance(value, float | np.floating):
                kinds.add("float")
            elif isinstance(value, str):
                kinds.add("str")
            else:
                raise DataError(
                    f"catalog attribute {name!r} holds a {type(value).__name__} ({value!r}); the catalog "
                    "store keeps strings, numbers, booleans or lists of those",
                    path=where,
                )
    if kinds <= {"int"}:
        return "int" if kinds else "str"
    if kinds <= {"int", "float"}:
        return "float"
    if kinds == {"bool"}:
        return "bool"
    return "str"  # mixed types: kept as text, the only common denominator


def encode_value(value: Any) -> tuple[str, float | None]:
    """An attribute value as ``(text, number)``: the text is what filters match, case-folded."""
    if isinstance(value, bool | np.bool_):
        return ("true" if value else "false"), None
    if isinstance(value, int | np.integer):
        return str(int(value)), float(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        # 1995.0 must match the filter value "1995", so integral floats are written without ".0".
        text = str(int(number)) if number.is_integer() else repr(number)
        return text, number if math.isfinite(number) else None
    return str(value), None
