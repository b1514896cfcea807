"""The LastFM* data of the SCPR / UNICORN / MCMIPL multi-round conversational recommendation benchmark.

The folder (``SCPR_Data.zip`` layout) holds ``Graph_generate_data/item_dict.json`` (each item's
``feature_index`` tag list) and ``UI_Interaction_data/review_dict_{train,valid,test}.json``
(``{user: [items]}``). The train split fits the collaborative prior; every (user, item) pair of the test
split is one simulated conversation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from recpilot.conversation.policy.space import AttributeSpace
from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.errors import DataError

ITEM_FILE = "Graph_generate_data/item_dict.json"
SPLIT_FILE = "UI_Interaction_data/review_dict_{split}.json"


@dataclass(frozen=True, eq=False)
class MCRData:
    """A loaded MCR benchmark dataset.

    Attributes:
        name: Dataset name.
        space: Items and their attributes (``tag=<id>``).
        train: The training interactions over the whole item catalog (ids as text).
        pairs: The evaluation (user, target item) pairs, in file order.
        root: The folder it was read from.
    """

    name: str
    space: AttributeSpace
    train: Dataset
    pairs: list[tuple[str, str]]
    root: Path


def load_lastfm_star(data_dir: str | Path, *, split: str = "test") -> MCRData:
    """Load LastFM* from ``data_dir`` with the pairs of ``split`` (``test`` or ``valid``) to converse on.

    Raises:
        DataError: A file is missing or malformed (the message names it).
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(
            f"LastFM* data folder does not exist (expected {ITEM_FILE} and the review dicts)", path=root
        )
    space = AttributeSpace.from_lastfm_items(_read_json(root / ITEM_FILE))
    train = _read_review_dict(root / SPLIT_FILE.format(split="train"))
    evaluation = _read_review_dict(root / SPLIT_FILE.format(split=split))
    known = set(space.item_ids)
    rows = [(user, item) for user, items in train.items() for item in items]
    unknown = sorted(
        {item for _, item in rows if item not in known}
        | {i for v in evaluation.values() for i in v if i not in known}
    )
    if unknown:
        raise DataError(
            f"review dicts name {len(unknown)} item(s) missing from {ITEM_FILE}, e.g. {unknown[:3]}",
            path=root,
        )
    interactions = pd.DataFrame(rows, columns=[Columns.USER, Columns.ITEM])
    catalog = pd.DataFrame({Columns.ITEM: list(space.item_ids)})
    dataset = Dataset.from_frames(interactions, catalog, name="lastfm-star", source=root)
    pairs = [(user, item) for user, items in evaluation.items() for item in items]
    return MCRData(name="lastfm-star", space=space, train=dataset, pairs=pairs, root=root)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError("missing file of the LastFM* layout", path=path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg})", path=path, line=exc.lineno) from None


def _read_review_dict(path: Path) -> dict[str, list[str]]:
    raw = _read_json(path)
    if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
        raise DataError("expected an object {user id: [item ids]}", path=path)
    return {str(user): [str(item) for item in items] for user, items in raw.items()}
