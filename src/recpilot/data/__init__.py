"""Datasets: the typed :class:`Dataset`, loaders, the built-in MovieLens data and splits."""

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.data.idmap import IdMap
from recpilot.data.splits import Split, leave_last_out, random_holdout, split_dataset, temporal_split

__all__ = [
    "Columns",
    "Dataset",
    "IdMap",
    "Split",
    "leave_last_out",
    "random_holdout",
    "split_dataset",
    "temporal_split",
]
