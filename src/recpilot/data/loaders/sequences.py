"""Sequence files in the S3-Rec / ICLRec format (Amazon Beauty, Sports, Toys, Yelp, LastFM).

One line per user, ``user_id item_id item_id ...`` separated by whitespace, items in time order, all ids
integers. Beside the file may sit ``<stem>_item2attributes.json`` mapping each item id to its attribute
ids (anonymised categories and brand); there are no titles.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.data.loaders.detect import sequence_file_in
from recpilot.errors import DataError

ATTRIBUTES = "attributes"
_LAYOUT = "each line must be 'user_id item_id item_id ...' with integer ids separated by spaces"


def load_sequences(
    path: str | Path, *, attributes: str | Path | None = None, name: str | None = None
) -> Dataset:
    """Load an S3-Rec sequence file as implicit feedback.

    The timestamp of an interaction is its 0-based position in the user's sequence. The catalog holds
    every item of the sequences and of the attribute file, titled ``"item <id>"``, with an
    ``attributes`` column (list of int; empty when the item has none).

    Args:
        path: The ``.txt`` file, or a folder holding it beside its ``_item2attributes.json``.
        attributes: The ``{item: [attribute ids]}`` JSON file; defaults to
            ``<stem>_item2attributes.json`` next to ``path`` when that exists.
        name: Dataset name; defaults to the file's stem (``"Beauty"``).

    Raises:
        DataError: A file is empty, not UTF-8, or has a line or entry that breaks the format; the
            message names the file and the line.
    """
    path = Path(path)
    if path.is_dir():
        found = sequence_file_in(path)
        if found is None:
            raise DataError(
                "expected one S3-Rec .txt sequence file (with its _item2attributes.json) in this folder",
                path=path,
            )
        path = found
    interactions = _read_sequences(path)
    if attributes is None:
        beside = path.with_name(f"{path.stem}_item2attributes.json")
        attributes = beside if beside.is_file() else None
    item_attributes = _read_attributes(Path(attributes)) if attributes is not None else {}
    item_ids = np.union1d(
        pd.unique(interactions[Columns.ITEM]),
        np.fromiter(item_attributes, dtype=np.int64, count=len(item_attributes)),
    )
    catalog = pd.DataFrame(
        {
            Columns.ITEM: item_ids,
            Columns.TITLE: [f"item {i}" for i in item_ids.tolist()],
            Columns.TEXT: "",
            ATTRIBUTES: [item_attributes.get(i, []) for i in item_ids.tolist()],
        }
    )
    return Dataset.from_frames(interactions, catalog, name=name or path.stem, source=path)


def _read_sequences(path: Path) -> pd.DataFrame:
    text = _read_utf8(path)
    users: list[int] = []
    lengths: list[int] = []
    items: list[int] = []
    first_line: dict[int, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            ids = [int(token) for token in tokens]
        except ValueError:
            position, token = next((i, t) for i, t in enumerate(tokens) if not _is_integer(t))
            kind = "user" if position == 0 else "item"
            raise DataError(
                f"{kind} id {token!r} is not an integer; {_LAYOUT}", path=path, line=number
            ) from None
        if len(ids) < 2:
            raise DataError(f"user {ids[0]} has no items; {_LAYOUT}", path=path, line=number)
        if ids[0] in first_line:
            raise DataError(
                f"user {ids[0]} already has a sequence on line {first_line[ids[0]]}; "
                "each user needs exactly one line",
                path=path,
                line=number,
            )
        first_line[ids[0]] = number
        users.append(ids[0])
        lengths.append(len(ids) - 1)
        items.extend(ids[1:])
    if not users:
        raise DataError(f"the file is empty; {_LAYOUT}", path=path, line=1)
    counts = np.asarray(lengths, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    return pd.DataFrame(
        {
            Columns.USER: np.repeat(np.asarray(users, dtype=np.int64), counts),
            Columns.ITEM: np.asarray(items, dtype=np.int64),
            Columns.TIMESTAMP: np.arange(len(items), dtype=np.int64) - np.repeat(starts, counts),
        }
    )


def _read_attributes(path: Path) -> dict[int, list[int]]:
    text = _read_utf8(path)
    if not text.strip():
        raise DataError("the file is empty; expected {item id: [attribute ids]}", path=path, line=1)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(raw, dict):
        raise DataError("expected a JSON object {item id: [attribute ids]}", path=path, line=1)
    attributes: dict[int, list[int]] = {}
    for key, value in raw.items():
        if not _is_integer(key):
            raise DataError(f"item id {key!r} is not an integer", path=path, line=_line_of_key(text, key))
        if not isinstance(value, list) or not all(type(v) is int for v in value):
            raise DataError(
                f"attributes of item {key} must be a list of integers, got {value!r}",
                path=path,
                line=_line_of_key(text, key),
            )
        attributes[int(key)] = value
    return attributes


def _line_of_key(text: str, key: str) -> int:
    return text.count("\n", 0, max(0, text.find(json.dumps(key)))) + 1


def _read_utf8(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror}", path=path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"not valid UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
            path=path,
            line=line,
        ) from None


def _is_integer(token: str) -> bool:
    try:
        int(token)
    except ValueError:
        return False
    return True
