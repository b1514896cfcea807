"""The command line, run in-process through ``main(argv) -> int``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from recpilot.cli import main
from recpilot.cli.demo import _print_demo


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)  # type: ignore[no-any-return]


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    rows = [(u, i, 4.0, 100 * u + t) for u in range(1, 31) for t, i in enumerate(range(u % 7, u % 7 + 6))]
    path = tmp_path / "interactions.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(path, index=False)
    return path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert "recpilot" in capsys.readouterr().out


def test_evaluate_json_on_a_csv(capsys: pytest.CaptureFixture[str], small_csv: Path) -> None:
    payload = run_json(
        capsys,
        "evaluate",
        "--dataset",
        str(small_csv),
        "--models",
        "pop,itemknn",
        "--k",
        "5",
        "--bootstrap",
        "50",
    )
    assert payload["protocol"] == "leave-last-out"
    assert payload["ranking"] == "full-ranking"
    assert payload["n_users"] == 30
    for name in ("pop", "itemknn"):
        result = payload["models"][name]
        for key in ("ndcg@5", "recall@5", "mrr@5", "coverage", "fit_seconds"):
            assert key in result
        low, high = result["ci"]["ndcg@5"]
        assert low <= result["ndcg@5"] <= high


def test_evaluate_sampled_protocol_is_labelled(capsys: pytest.CaptureFixture[str], small_csv: Path) -> None:
    payload = run_json(
        capsys, "evaluate", "-d", str(small_csv), "--models", "pop", "--sampled", "5", "--bootstrap", "20"
    )
    assert "sampled" in payload["ranking"]


def test_evaluate_human_output_and_per_user_file(
    capsys: pytest.CaptureFixture[str], small_csv: Path, tmp_path: Path
) -> None:
    per_user = tmp_path / "per_user.csv"
    code = main(
        [
            "evaluate",
            "-d",
            str(small_csv),
            "--models",
            "pop",
            "--bootstrap",
            "20",
            "--per-user",
            str(per_user),
        ]
    )
    assert code == 0
    assert "ndcg@10" in capsys.readouterr().out
    assert len(pd.read_csv(per_user)) == 30


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--dataset", "/no/such/place.csv", "--models", "pop"], "/no/such/place.csv"),
        (["evaluate", "--models", "nosuchmodel"], "unknown model 'nosuchmodel'"),
        (["evaluate", "--models", "pop", "--protocol", "sideways"], "unknown split protocol"),
        (["evaluate", "--models", "ease", "--param", "ease.l2=-1"], "l2"),
        (["evaluate", "--models", "pop", "--param", "oops"], "MODEL.FIELD=VALUE"),
        (["recommend", "--user", "1", "--history", "1,2"], "exactly one of"),
        (["recommend", "--user", "999999", "--model", "pop"], "unknown user id"),
        (["recommend", "--user", "1", "--model", "pop", "--k", "0"], "--k must be a positive integer"),
        (["recommend", "--history", "1,99999999", "--model", "pop"], "history: unknown item id '99999999'"),
    ],
)
def test_bad_input_gets_one_clear_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_recommend_for_user_and_history(capsys: pytest.CaptureFixture[str]) -> None:
    payload = run_json(capsys, "recommend", "--user", "1", "--model", "pop", "--k", "5")
    assert len(payload["items"]) == 5
    assert all(row["title"] for row in payload["items"])
    cold = run_json(
        capsys, "recommend", "--history", "1,2", "--model", "itemknn", "--k", "3", "--exclude", "3"
    )
    assert len(cold["items"]) == 3
    assert all(type(row["item_id"]) is str for row in payload["items"] + cold["items"])
    assert not {"1", "2", "3"} & {row["item_id"] for row in cold["items"]}


def test_train_then_recommend_from_saved_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    trained = run_json(capsys, "train", "--model", "itemknn", "--output", str(tmp_path / "knn"))
    assert Path(trained["path"], "model.json").is_file()
    fresh = run_json(capsys, "recommend", "--user", "1", "--model", "itemknn", "--k", "5")
    saved = run_json(capsys, "recommend", "--user", "1", "--model-dir", str(tmp_path / "knn"), "--k", "5")
    assert [r["item_id"] for r in saved["items"]] == [r["item_id"] for r in fresh["items"]]


def test_config_file_and_params(capsys: pytest.CaptureFixture[str], small_csv: Path, tmp_path: Path) -> None:
    config = tmp_path / "models.toml"
    config.write_text('[models.knn]\nclass = "itemknn"\nconfig = { neighbors = 5 }\n')
    payload = run_json(
        capsys,
        "evaluate",
        "-d",
        str(small_csv),
        "--models",
        "knn",
        "--config",
        str(config),
        "--bootstrap",
        "10",
    )
    assert "knn" in payload["models"]
    assert "error" not in payload["models"]["knn"]


def test_demo_json_runs_on_the_builtin_data(capsys: pytest.CaptureFixture[str]) -> None:
    payload = run_json(capsys, "demo", "--models", "pop,itemknn")
    assert payload["dataset"]["users"] == 610
    assert payload["best_model"] == "itemknn"
    recs = payload["sample_user"]["recommendations"]
    assert len(recs) == 10
    assert all(r["title"] for r in recs)
    assert all(type(r["item_id"]) is str for r in recs)
    assert all(type(i["item_id"]) is str for turn in payload["conversation"] for i in turn["items"])
    _print_demo(payload)  # the terminal form of the same payload
    shown = capsys.readouterr().out
    assert f"Top 10 for user 1 from {payload['best_model']}" in shown
    assert recs[0]["title"] in shown


def test_ask_json_answers_the_acceptance_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECPILOT_HOME", str(tmp_path / "home"))
    payload = run_json(capsys, "ask", "a 90s comedy", "--user", "1")
    assert payload["items"]
    for item in payload["items"]:
        assert {"item_id", "title", "score", "reasons"} <= set(item)
        assert type(item["item_id"]) is str  # ids leave the process as text
        assert "Comedy" in item["attributes"]["genres"]
        assert 1990 <= item["attributes"]["year"] <= 1999
    assert payload["reply"]
    assert any(step["kind"] == "tool_call" for step in payload["trace"])
    assert payload["usage"]["llm_calls"] == 0
    # A second start reuses the persisted store and cached models under the home folder.
    assert list((tmp_path / "home").rglob("model.json"))
    again = run_json(capsys, "ask", "what do you know about me", "--user", "1")
    assert again["reply"]


def test_chat_reads_lines_until_quit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECPILOT_HOME", str(tmp_path / "home"))
    lines = iter(["a film noir", "", "quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert main(["chat", "--user", "7"]) == 0
    out = capsys.readouterr().out
    assert "recpilot>" in out
    assert "Film-Noir" in out or "noir" in out.lower()
