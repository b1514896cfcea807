"""Result files are replaced whole: a failed write leaves the previous file and no temporary behind."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recpilot.simulation import files
from recpilot.simulation.files import atomic_write_parquet, atomic_write_text


def test_text_and_parquet_are_written_and_replaced(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "summary.json", "{}")
    atomic_write_text(tmp_path / "summary.json", '{"ctr": 0.1}')
    assert (tmp_path / "summary.json").read_text(encoding="utf-8") == '{"ctr": 0.1}'
    frame = pd.DataFrame({"item_id": ["1", "2"], "rank": [0, 1]})
    atomic_write_parquet(tmp_path / "items.parquet", frame)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "items.parquet"), frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.parquet", "summary.json"]


def test_a_failed_write_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "items.parquet"
    good = pd.DataFrame({"item_id": ["1"]})
    atomic_write_parquet(target, good)

    def full_disk(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    # The temporary file is complete when the rename fails: it must go, and the target stay as it was.
    monkeypatch.setattr(files.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        atomic_write_parquet(target, pd.DataFrame({"item_id": ["1", "2"]}))
    with pytest.raises(OSError, match="No space"):
        atomic_write_text(tmp_path / "summary.json", "{}")
    pd.testing.assert_frame_equal(pd.read_parquet(target), good)
    assert [p.name for p in tmp_path.iterdir()] == ["items.parquet"], "no temporary file is left"
