"""Progress of long evaluation steps reaches stderr, also with --json (issue 13)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from recpilot.cli import main
from recpilot.data import leave_last_out
from recpilot.evaluation import evaluate
from recpilot.evaluation.runner import heartbeat
from recpilot.models.ease import EaseRecommender
from recpilot.testing import known_answer_dataset


def test_heartbeat_speaks_while_the_block_runs_and_stops_after() -> None:
    said: list[str] = []
    with heartbeat(said.append, "ease: still fitting", every=0.02):
        time.sleep(0.15)
    count = len(said)
    time.sleep(0.06)
    assert count >= 3
    assert len(said) == count
    assert said[0].startswith("ease: still fitting (")


def test_runner_says_the_memory_and_the_fit_time() -> None:
    said: list[str] = []
    split = leave_last_out(known_answer_dataset().dataset)
    evaluate({"ease": EaseRecommender(l2=10.0)}, split, n_bootstrap=0, progress=said.append)
    fitting = next(m for m in said if m.startswith("ease: fitting"))
    assert "needs about" in fitting
    assert any(m.startswith("ease: fitted in ") for m in said)


def test_evaluate_json_keeps_progress_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [(u, i, 4.0, 100 * u + t) for u in range(1, 31) for t, i in enumerate(range(u % 7, u % 7 + 6))]
    path = tmp_path / "interactions.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(path, index=False)
    assert main(["evaluate", "-d", str(path), "--models", "ease", "--bootstrap", "10", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["models"]["ease"]["fit_seconds"] >= 0
    assert "ease: fitting" in captured.err
    assert "ease: fitted in" in captured.err
