"""The HTML report renders every section from a small results table, with curves that match the data."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest

from recpilot.errors import DataError
from recpilot.simulation.journal import records_to_frames
from recpilot.simulation.report import (
    ROUNDS_FILE,
    coverage_over_time,
    exit_curve,
    normalised_entropy,
    satisfaction_by_page,
    write_report,
)
from recpilot.simulation.types import Page, PageDecision, SessionRecord, ShownItem, SimAction


def session(
    user: str, session_no: int, pages: list[list[str]], clicks: list[str], leave_at: int | None
) -> SessionRecord:
    record = SessionRecord(user_id=user, session=session_no)
    for index, ids in enumerate(pages):
        page = Page(
            session=session_no,
            index=index,
            items=[ShownItem(item_id=i, position=p) for p, i in enumerate(ids)],
        )
        actions = [
            SimAction(kind="click" if i in clicks else "view", item_id=i, position=p)
            for p, i in enumerate(ids)
        ]
        leave = leave_at == index
        record.pages.append(page)
        record.decisions.append(PageDecision(actions=actions, leave=leave, satisfaction=0.2 + 0.2 * index))
        if leave:
            record.exit_page = index
            break
    return record


@pytest.fixture
def results(tmp_path: Path) -> Path:
    records = [
        ("p1", session("u1", 0, [["a", "b"], ["c", "d"], ["e", "f"]], ["a", "c"], None)),
        ("p2", session("u2", 0, [["a", "b"], ["c", "d"], ["e", "f"]], ["b"], 0)),
        ("p2", session("u2", 1, [["a", "g"], ["c", "h"], ["e", "f"]], [], 1)),
    ]
    items, sessions = records_to_frames("run-test", records)
    items.to_parquet(tmp_path / "items.parquet", index=False)
    sessions.to_parquet(tmp_path / "sessions.parquet", index=False)
    return tmp_path


def test_report_has_every_section_with_embedded_figures(results: Path, tmp_path: Path) -> None:
    out = write_report(results, tmp_path / "out" / "report.html")
    html = out.read_text(encoding="utf-8")
    for section in ("summary", "ctr", "satisfaction", "exit", "coverage"):
        assert f'<section id="{section}">' in html
    assert 'id="rounds"' not in html
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 4
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert "run-test" in html
    assert "<th>user_sessions</th><td>3</td>" in html  # no summary.json: computed from the tables


def test_rounds_section_appears_when_rounds_were_run(results: Path, tmp_path: Path) -> None:
    pd.DataFrame({"round": [0, 1], "coverage": [0.1, 0.08], "entropy": [0.9, 0.7]}).to_parquet(
        results / ROUNDS_FILE
    )
    html = write_report(results, tmp_path / "r.html").read_text(encoding="utf-8")
    assert '<section id="rounds">' in html


def test_curves_match_the_data(results: Path) -> None:
    items = pd.read_parquet(results / "items.parquet")
    sessions = pd.read_parquet(results / "sessions.parquet")
    # pages seen: 3, 1, 2 -> active at page 0, 1, 2: 3/3, 2/3, 1/3
    assert exit_curve(sessions)["active"].tolist() == pytest.approx([1.0, 2 / 3, 1 / 3])
    assert satisfaction_by_page(items)["satisfaction"].tolist() == pytest.approx([0.2, 0.4, 0.6])
    coverage = coverage_over_time(items)
    assert coverage["coverage"].is_monotonic_increasing
    assert coverage["coverage"].iloc[-1] == pytest.approx(1.0)
    assert 0.0 < coverage["entropy"].iloc[-1] <= 1.0


def test_entropy_bounds() -> None:
    assert normalised_entropy(pd.Series([5.0, 5.0, 5.0]).to_numpy()) == pytest.approx(1.0)
    assert normalised_entropy(pd.Series([9.0, 0.0, 0.0]).to_numpy()) == pytest.approx(0.0)


def test_missing_results_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no items\.parquet"):
        write_report(tmp_path, tmp_path / "r.html")
