"""Turn a :class:`~recpilot.data.Dataset` into rows for the store's tables (no database access here)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.errors import DataError

ValueType = Literal["str", "int", "float", "bool"]
Row = dict[str, Any]

YEAR: Literal["year"] = "year"


@dataclass(frozen=True)
class AttributeRows:
    """One catalog attribute column, ready to insert.

    Attributes:
        name: Column name.
        value_type: Python type every value is restored to.
        multivalued: True when the column holds lists.
        rows: ``item_attributes`` rows, one per value.
    """

    name: str
    value_type: ValueType
    multivalued: bool
    rows: list[Row]


def external_id_rows(ids: Sequence[Any] | np.ndarray, kind: str, where: str | None) -> list[Row]:
    """Rows ``(id, external_id, external_type)`` for an id map's external ids in internal order."""
    rows: list[Row] = []
    for index, value in enumerate(ids):
        text, type_name = encode_id(value, kind, where)
        rows.append({"id": index, "external_id": text, "external_type": type_name})
    return rows


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


def item_rows(dataset: Dataset) -> list[Row]:
    """``items`` rows: ids, title, text, year (when the catalog has an integral one) and popularity."""
    catalog = dataset.catalog
    rows = external_id_rows(dataset.items.external_ids, "item", dataset.source)
    years = _year_column(catalog)
    popularity = dataset.item_popularity.astype(np.int64)
    titles = catalog[Columns.TITLE].astype(str).tolist()
    texts = catalog[Columns.TEXT].astype(str).tolist()
    for index, row in enumerate(rows):
        row["title"] = titles[index]
        row["text"] = texts[index]
        row["year"] = years[index] if years is not None else None
        row["popularity"] = int(popularity[index])
    return rows


def attribute_rows(dataset: Dataset) -> Iterator[AttributeRows]:
    """Every attribute column of the catalog, exploded into one row per (item, value)."""
    for name in dataset.attribute_columns:
        column = dataset.catalog[name]
        multivalued = False
        values: list[list[Any]] = []
        for cell in column.tolist():
            if isinstance(cell, list | tuple | np.ndarray | pd.Series):
                multivalued = True
                values.append([v for v in cell if not _missing(v)])
            else:
                values.append([] if _missing(cell) else [cell])
        value_type = _value_type(name, values, dataset.source)
        rows: list[Row] = []
        for item_id, cell_values in enumerate(values):
            for position, value in enumerate(cell_values):
                text, number = _encode_value(value)
                rows.append(
                    {
                        "item_id": item_id,
                        "name": name,
                        "position": position,
                        "value": text,
                        "value_key": text.casefold(),
                        "value_num": number,
                    }
                )
        yield AttributeRows(name, value_type, multivalued, rows)


def interaction_rows(dataset: Dataset) -> list[Row]:
    """``interactions`` rows; ``id`` is the row position, which breaks timestamp ties."""
    table = dataset.interactions
    frame = pd.DataFrame(
        {
            "id": np.arange(len(table), dtype=np.int64),
            "user_id": table[Columns.USER_IDX].to_numpy(np.int64),
            "item_id": table[Columns.ITEM_IDX].to_numpy(np.int64),
            "rating": table[Columns.RATING].to_numpy(np.float64),
            "timestamp": table[Columns.TIMESTAMP].to_numpy(np.int64),
        }
    )
    # to_dict("records") on numpy columns yields Python ints/floats, which every DB driver accepts.
    return frame.to_dict("records")


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
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


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


def _encode_value(value: Any) -> tuple[str, float | None]:
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
