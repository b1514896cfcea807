"""``recpilot simulate`` in-process."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
from pathlib import Path

import pytest
from _s1_data import clustered_dataset

from recpilot.cli.app import main
from recpilot.data.columns import Columns
from recpilot.testing.llm_server import PROMPT_TOKENS, ScriptedLLMServer, reply_delayed, reply_output

#: Valid both as a page answer (nothing clicked, stays) and as an interview answer.
FIXED = {"reason": "nothing grabs me", "satisfaction": 0.4}
#: A page answer: leave after this page.
LEAVE = {"reason": "bored already", "satisfaction": 0.1, "leave": True}


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    data = clustered_dataset()
    frame = data.interactions.copy()
    frame[Columns.USER] = data.users.to_external(frame[Columns.USER_IDX])
    frame[Columns.ITEM] = data.items.to_external(frame[Columns.ITEM_IDX])
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    frame[[Columns.USER, Columns.ITEM, Columns.RATING, Columns.TIMESTAMP]].to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def movielens_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The clustered data as a MovieLens-latest folder, so the catalog has titles and genres."""
    data = clustered_dataset()
    folder = tmp_path_factory.mktemp("movielens")
    frame = data.interactions.copy()
    frame["userId"] = data.users.to_external(frame[Columns.USER_IDX])
    frame["movieId"] = data.items.to_external(frame[Columns.ITEM_IDX])
    frame[["userId", "movieId", Columns.RATING, Columns.TIMESTAMP]].to_csv(
        folder / "ratings.csv", index=False
    )
    movies = data.catalog.rename(columns={Columns.ITEM: "movieId"})
    movies["genres"] = movies["genres"].map("|".join)
    movies[["movieId", "title", "genres"]].to_csv(folder / "movies.csv", index=False)
    return str(folder)


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_simulate_json_prints_the_summary_and_is_seeded(
    capsys: pytest.CaptureFixture[str], csv_path: str
) -> None:
    argv = ["simulate", "-d", csv_path, "--recommender", "pop", "--users", "30", "--sessions", "2", "--json"]
    first = _json(capsys, argv)
    for key in ("ctr", "mean_rating", "mean_session_length", "exit_rate", "coverage", "wall_time_s"):
        assert key in first
    assert first["exit_rate"] + first["completion_rate"] == pytest.approx(1.0)  # type: ignore[operator]
    definitions = first["definitions"]
    assert isinstance(definitions, dict)
    assert "before the last page" in definitions["exit_rate"]
    assert first["user_sessions"] == 60
    again = _json(capsys, argv)
    assert {k: v for k, v in first.items() if "time" not in k and "minute" not in k} == {
        k: v for k, v in again.items() if "time" not in k and "minute" not in k
    }


def test_simulate_output_and_resume(
    capsys: pytest.CaptureFixture[str], csv_path: str, tmp_path: Path
) -> None:
    out = str(tmp_path / "run")
    argv = ["simulate", "-d", csv_path, "-r", "pop", "--users", "10", "--output", out, "--json"]
    first = _json(capsys, argv)
    assert (tmp_path / "run" / "items.parquet").exists()
    assert main(argv) == 2  # existing run without --resume
    resumed = _json(capsys, [*argv, "--resume"])
    assert resumed["ctr"] == first["ctr"]


def test_simulate_report_with_and_without_an_output_folder(
    capsys: pytest.CaptureFixture[str], csv_path: str, tmp_path: Path
) -> None:
    argv = ["simulate", "-d", csv_path, "-r", "pop", "--users", "10", "--pages", "3", "--json"]
    alone = _json(capsys, [*argv, "--report", str(tmp_path / "alone" / "report.html")])
    assert "output_dir" not in alone
    html = Path(str(alone["report"])).read_text(encoding="utf-8")
    assert str(alone["run_id"]) in html
    kept = _json(capsys, [*argv, "--output", str(tmp_path / "run"), "--report", str(tmp_path / "r.html")])
    assert (tmp_path / "run" / "sessions.parquet").exists()
    assert Path(str(kept["report"])).read_text(encoding="utf-8").startswith("<!")


def test_simulate_validate_and_errors(capsys: pytest.CaptureFixture[str], csv_path: str) -> None:
    report = _json(capsys, ["simulate", "-d", csv_path, "--validate", "--json"])
    assert len(report["discrimination"]) == 3  # type: ignore[arg-type]
    assert main(["simulate", "-d", csv_path, "--engine", "llm", "--json"]) == 2
    assert "--llm" in capsys.readouterr().err
    assert main(["simulate", "-d", csv_path, "--resume", "--json"]) == 2


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    """Stderr with the console's line wrapping undone."""
    return " ".join(capsys.readouterr().err.split())


def _metrics(payload: dict[str, object]) -> dict[str, object]:
    """The payload without timings and the engine's books (what a replay must reproduce)."""
    skip = {"wall_time_s", "sessions_per_minute", "engine_stats"}
    return {k: v for k, v in payload.items() if k not in skip}


def test_explore_wraps_the_recommender_and_learns(
    capsys: pytest.CaptureFixture[str], movielens_dir: str
) -> None:
    argv = ["simulate", "-d", movielens_dir, "-r", "ease", "--users", "12", "--pages", "3", "--json"]
    plain = _json(capsys, argv)
    for strategy in ("thompson", "epsilon:0.5", "linucb"):
        explored = _json(capsys, [*argv, "--explore", strategy])
        assert explored["recommender"] == f"{strategy}(ease)"
        assert explored["errors"] == 0
        assert explored["user_sessions"] == plain["user_sessions"]
    # epsilon 0 is the base ranking exactly (through the async path instead of the batch path)
    greedy = _json(capsys, [*argv, "--explore", "epsilon:0"])
    assert _metrics(greedy) | {"recommender": "ease", "run_id": ""} == _metrics(plain) | {"run_id": ""}
    # epsilon 0.5 swaps items in from lower down the pool: popularity shows more of the catalog
    popular = [*argv[:4], "pop", *argv[5:]]
    explored = _json(capsys, [*popular, "--explore", "epsilon:0.5"])
    assert explored["coverage"] > _json(capsys, popular)["coverage"]  # type: ignore[operator]
    assert main([*argv, "--explore", "ucb"]) == 2
    assert "simulate --explore: explore 'ucb' is not known" in _error(capsys)


def test_rounds_print_coverage_and_entropy_per_round(
    capsys: pytest.CaptureFixture[str], csv_path: str, tmp_path: Path
) -> None:
    out = tmp_path / "rounds"
    argv = ["simulate", "-d", csv_path, "-r", "itemknn", "--users", "15", "--pages", "3"]
    payload = _json(capsys, [*argv, "--rounds", "2", "--output", str(out), "--json"])
    rounds = payload["rounds"]
    assert isinstance(rounds, list)
    assert [row["round"] for row in rounds] == [0, 1]
    assert all(0 < row["coverage"] <= 1 and 0 <= row["entropy"] <= 1 for row in rounds)
    assert rounds[0]["new_interactions"] > 0  # the first round's clicks were fed back
    assert (out / "round-01" / "items.parquet").exists()
    report = tmp_path / "rounds.html"  # without --output: the tables live in a temporary folder
    assert main([*argv, "--rounds", "2", "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "coverage" in printed
    assert "entropy" in printed
    assert '<section id="rounds">' in report.read_text(encoding="utf-8")
    assert main([*argv, "--rounds", "2", "--explore", "thompson"]) == 2
    assert "--rounds cannot be combined with --explore" in _error(capsys)


def test_backend_options_are_checked(
    capsys: pytest.CaptureFixture[str], csv_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["simulate", "-d", csv_path, "-r", "pop", "--users", "5", "--json"]
    assert main([*argv, "--workers", "2"]) == 2
    assert "--backend ray" in _error(capsys)
    assert main([*argv, "--backend", "spark"]) == 2
    assert "'local' or 'ray'" in _error(capsys)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main([*argv, "--backend", "ray"]) == 2
    assert "pip install recpilot[ray]" in _error(capsys)


@pytest.mark.slow
def test_ray_backend_gives_the_local_results(capsys: pytest.CaptureFixture[str], csv_path: str) -> None:
    pytest.importorskip("ray")
    argv = ["simulate", "-d", csv_path, "-r", "pop", "--users", "12", "--sessions", "2", "--json"]
    local = _json(capsys, argv)
    distributed = _json(capsys, [*argv, "--backend", "ray", "--workers", "2"])
    assert _metrics(distributed) == _metrics(local)


def _llm_argv(movielens_dir: str, url: str, cache: Path, *extra: str) -> list[str]:
    return [
        "simulate", "-d", movielens_dir, "-r", "pop", "--users", "4", "--pages", "3", "--page-size", "4",
        "--engine", "llm", "--llm", f"{url}#sim", "--concurrency", "1", "--llm-cache", str(cache),
        "--json", *extra,
    ]  # fmt: skip


def test_llm_engine_end_to_end_then_replayed_without_the_server(
    capsys: pytest.CaptureFixture[str], movielens_dir: str, tmp_path: Path
) -> None:
    cache = tmp_path / "llm.sqlite"
    with ScriptedLLMServer([reply_output(LEAVE)], exhausted=reply_output(FIXED)) as server:
        url = server.base_url
        recorded = _json(capsys, _llm_argv(movielens_dir, url, cache, "--llm-cache-mode", "record"))
        sent = len(server.chat_requests)
    # one user leaves after its first page (page + interview); three see all 3 pages (+ interview)
    assert sent == 2 + 3 * 4
    assert recorded["engine"] == "llm"
    assert recorded["exit_rate"] == pytest.approx(0.25)
    assert recorded["mean_session_length"] == pytest.approx((1 + 3 * 3) / 4)
    assert recorded["ctr"] == 0.0
    assert recorded["errors"] == 0
    stats = recorded["engine_stats"]
    assert isinstance(stats, dict)
    assert (stats["pages"], stats["requests"], stats["failed"], stats["malformed"]) == (10, sent, 0, 0)
    assert (stats["cache_recorded"], stats["cache_hits"], stats["http_attempts"]) == (sent, 0, sent)
    assert stats["input_tokens"] == PROMPT_TOKENS * sent
    first_prompt = server.chat_requests[0].text()
    assert "on a scale from 0.5 to 5" in first_prompt  # the dataset's rating range

    replayed = _json(capsys, _llm_argv(movielens_dir, url, cache, "--llm-cache-mode", "replay"))
    assert _metrics(replayed) == _metrics(recorded)
    again = replayed["engine_stats"]
    assert isinstance(again, dict)
    assert (again["cache_hits"], again["http_attempts"], again["requests"]) == (sent, 0, sent)


def test_a_replay_cache_miss_stops_the_run_with_a_resumable_checkpoint(
    capsys: pytest.CaptureFixture[str], movielens_dir: str, tmp_path: Path
) -> None:
    cache, out = tmp_path / "llm.sqlite", tmp_path / "run"
    chunked = ("--chunk-users", "2")
    with ScriptedLLMServer([reply_output(LEAVE)], exhausted=reply_output(FIXED)) as server:
        url = server.base_url
        recorded = _json(capsys, _llm_argv(movielens_dir, url, cache, *chunked))
    with sqlite3.connect(cache) as db:  # forget the last answer: the second chunk's last interview
        last = db.execute("SELECT key FROM llm_responses ORDER BY created DESC LIMIT 1").fetchone()[0]
        db.execute("DELETE FROM llm_responses WHERE key = ?", (last,))

    replay = _llm_argv(
        movielens_dir, url, cache, *chunked, "--llm-cache-mode", "replay", "--output", str(out)
    )
    assert main(replay) == 2
    captured = capsys.readouterr()
    error = " ".join(captured.err.split())
    assert error.startswith("error: simulation stopped in chunk 2 of 2: LLM cache miss in replay mode")
    assert "--resume" in error
    assert captured.out == ""
    assert (out / "journal" / "chunk-000000").is_dir()
    assert not (out / "journal" / "chunk-000001").exists()

    with ScriptedLLMServer(exhausted=reply_output(FIXED)) as server:
        mode = ("--llm-cache-mode", "record-or-replay")
        resume = _llm_argv(
            movielens_dir, server.base_url, cache, *chunked, *mode, "--output", str(out), "--resume"
        )
        resumed = _json(capsys, resume)
        assert len(server.chat_requests) == 1  # only the forgotten answer is asked again
    assert _metrics(resumed) | {"output_dir": None} == _metrics(recorded) | {"output_dir": None}


def test_llm_options_reach_the_requests_and_progress_goes_to_stderr_with_json(
    capsys: pytest.CaptureFixture[str], movielens_dir: str, tmp_path: Path
) -> None:
    with ScriptedLLMServer(exhausted=reply_output(FIXED)) as server:
        argv = _llm_argv(movielens_dir, server.base_url, tmp_path / "llm.sqlite", "--max-tokens", "120")
        assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["engine"] == "llm"  # stdout stays one JSON document
    assert {r.body["max_tokens"] for r in server.chat_requests} == {120}
    last = captured.err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"llm 12/12 pages done \(100%\), 0 requests in flight \(limit \d+/\d+\): "
        r"[\d.]+ calls/s, \d+ output tok/s, ETA 0:00:00",
        last,
    )


def test_llm_timeout_bounds_each_request(
    capsys: pytest.CaptureFixture[str], movielens_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECPILOT_LLM_MAX_RETRIES", "0")
    with ScriptedLLMServer(exhausted=reply_delayed(2.0, reply_output(FIXED))) as server:
        argv = _llm_argv(movielens_dir, server.base_url, tmp_path / "llm.sqlite", "--timeout", "0.2")
        argv[argv.index("--users") + 1], argv[argv.index("--pages") + 1] = "1", "1"
        started = time.monotonic()
        payload = _json(capsys, argv)
    stats = payload["engine_stats"]
    assert isinstance(stats, dict)
    assert (stats["failed"], stats["interview_failures"]) == (1, 1)  # each answer came too late
    assert "ReadTimeout" in str(stats["last_error"])
    assert time.monotonic() - started < 20


def test_llm_options_are_refused_for_the_offline_engine(
    capsys: pytest.CaptureFixture[str], csv_path: str
) -> None:
    assert main(["simulate", "-d", csv_path, "-r", "pop", "--users", "2", "--timeout", "5", "--json"]) == 2
    assert "--timeout and --max-tokens apply to --engine llm only" in _error(capsys)
