"""The runner: determinism, fast path = async path, errors recorded, resume after a kill."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from _s1_data import clustered_dataset

from recpilot.errors import ConfigError
from recpilot.llm.cache import CacheMissError
from recpilot.simulation.assembly import build_simulation
from recpilot.simulation.batch import UserRows, ranked_width, simulate_chunk
from recpilot.simulation.behaviour import BehaviourConfig
from recpilot.simulation.engine import DecisionEngine
from recpilot.simulation.environment import FeedbackObserver, ModelRecommender
from recpilot.simulation.offline_engine import OfflineEngine
from recpilot.simulation.runner import SimulationRunner, SimulationStoppedError
from recpilot.simulation.types import (
    Page,
    PageDecision,
    Persona,
    SimAction,
    SimColumns,
    SimulationConfig,
    UserState,
)

KEYS = [SimColumns.USER, SimColumns.SESSION, SimColumns.PAGE, SimColumns.POSITION]


class _Delegate:
    """Hides the model adapter's batch path, forcing the async path."""

    def __init__(self, inner: ModelRecommender, delay: float = 0.0) -> None:
        self.inner, self.delay = inner, delay

    async def arecommend(self, user_id: str, history: list[str], k: int, exclude: list[str]) -> list[str]:
        if self.delay:
            time.sleep(self.delay)
        return await self.inner.arecommend(user_id, history, k, exclude)


@pytest.fixture(scope="module")
def engine() -> OfflineEngine:
    return OfflineEngine(seed=5).fit(clustered_dataset())


def _run(engine: OfflineEngine, **overrides: object) -> SimulationRunner:
    config = SimulationConfig.model_validate(
        {"users": 30, "sessions": 2, "pages": 4, "page_size": 5, "seed": 7, **overrides}
    )
    runner = SimulationRunner(build_simulation(config, dataset=clustered_dataset(), engine=engine))
    runner.run_sync()
    return runner


def test_same_seed_same_results_and_other_seed_differs(engine: OfflineEngine) -> None:
    a, b = _run(engine), _run(engine)
    assert a.fast_path
    pd.testing.assert_frame_equal(a.items, b.items)
    pd.testing.assert_frame_equal(a.sessions, b.sessions)
    c = _run(engine, seed=8)
    assert not a.items[SimColumns.ACTION].equals(c.items[SimColumns.ACTION])


def test_chunking_does_not_change_results(engine: OfflineEngine) -> None:
    whole, chunked = _run(engine), _run(engine, chunk_users=7)
    # the run id hashes the chunk size (a resume must use the same one); everything else is equal
    left, right = (
        r.items.drop(columns=SimColumns.RUN).sort_values(KEYS).reset_index(drop=True)
        for r in (whole, chunked)
    )
    pd.testing.assert_frame_equal(left, right)


def test_kept_and_recomputed_user_rows_give_the_same_sessions(engine: OfflineEngine) -> None:
    """Per-real-user rows kept across chunks or recomputed (a bound of one user) change nothing."""
    config = SimulationConfig(users=60, sessions=2, pages=4, page_size=5, seed=7)
    run = build_simulation(config, dataset=clustered_dataset(), engine=engine)
    assert isinstance(run.recommender, ModelRecommender)
    width = ranked_width(config.sessions, config.pages, config.page_size)
    kept = UserRows(engine, run.recommender, width)
    bounded = UserRows(engine, run.recommender, width, max_bytes=1)
    assert bounded.max_users == 1
    settings = {"run_seed": 7, "run_id": "r", "sessions": 2, "pages": 4, "page_size": 5}
    for chunk in (run.population[:25], run.population[25:]):  # the second chunk reuses kept rows
        a = simulate_chunk(engine, run.recommender, chunk, rows=kept, **settings)
        b = simulate_chunk(engine, run.recommender, chunk, rows=bounded, **settings)
        pd.testing.assert_frame_equal(a[0], b[0])
        pd.testing.assert_frame_equal(a[1], b[1])
    assert len(kept._rows) == len({u.user_idx for u in run.population})
    assert len(bounded._rows) == 1


@pytest.mark.parametrize("rerank", [False, True])
def test_async_path_gives_the_same_sessions_as_the_fast_path(engine: OfflineEngine, rerank: bool) -> None:
    fast = _run(engine, rerank=rerank)
    assert fast.fast_path
    config = SimulationConfig(users=30, sessions=2, pages=4, page_size=5, seed=7, rerank=rerank)
    run = build_simulation(config, dataset=clustered_dataset(), engine=engine)
    assert isinstance(run.recommender, ModelRecommender)
    run.recommender = _Delegate(run.recommender)
    slow = SimulationRunner(run)
    assert not slow.fast_path
    slow.run_sync()
    left = fast.items.sort_values(KEYS).reset_index(drop=True)
    right = slow.items.sort_values(KEYS).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_exact=False, atol=1e-9)
    cols = [
        SimColumns.USER,
        SimColumns.SESSION,
        SimColumns.PAGES_SEEN,
        SimColumns.EXIT_PAGE,
        SimColumns.REASON,
    ]
    pd.testing.assert_frame_equal(
        fast.sessions[cols].sort_values(cols[:2]).reset_index(drop=True),
        slow.sessions[cols].sort_values(cols[:2]).reset_index(drop=True),
    )


def test_rerank_pages_follow_the_clicks(engine: OfflineEngine) -> None:
    fixed, reranked = _run(engine), _run(engine, rerank=True)
    keys = [SimColumns.USER, SimColumns.SESSION, SimColumns.PAGE, SimColumns.POSITION]
    pages = fixed.items.merge(reranked.items, on=keys, suffixes=("_fixed", "_rerank"))
    first = pages[(pages[SimColumns.SESSION] == 0) & (pages[SimColumns.PAGE] == 0)]
    # nothing clicked yet: the first page is the same ranking either way
    assert (first["item_id_fixed"] == first["item_id_rerank"]).all()
    later = pages[pages[SimColumns.PAGE] > 0]
    assert (later["item_id_fixed"] != later["item_id_rerank"]).any()
    shown = reranked.items.groupby([SimColumns.USER, SimColumns.SESSION])[SimColumns.ITEM]
    assert not shown.apply(lambda s: s.duplicated().any()).any()


class _Learner(ModelRecommender):
    """A model recommender that hears every page's outcome (and fails to learn when told to)."""

    def __init__(self, inner: ModelRecommender, *, fail: bool = False) -> None:
        super().__init__(inner.model)
        self.fail = fail
        self.heard: list[tuple[str, Page, PageDecision]] = []

    def observe(self, user_id: str, page: Page, decision: PageDecision) -> None:
        if self.fail:
            raise ValueError("cannot learn")
        self.heard.append((user_id, page, decision))


def test_feedback_observers_hear_every_page_in_order(engine: OfflineEngine) -> None:
    config = SimulationConfig(users=10, sessions=2, pages=3, page_size=4, seed=7, concurrency=1)
    run = build_simulation(config, dataset=clustered_dataset(), engine=engine)
    assert isinstance(run.recommender, ModelRecommender)
    learner = _Learner(run.recommender)
    assert isinstance(learner, FeedbackObserver)
    run.recommender = learner
    runner = SimulationRunner(run)
    assert not runner.fast_path  # a learner must see each page before the next one is asked for
    runner.run_sync()
    assert len(learner.heard) == runner.sessions[SimColumns.PAGES_SEEN].sum()
    personas = {u.persona.user_id for u in run.population}
    assert {user for user, _, _ in learner.heard} <= personas
    shown = runner.items.groupby([SimColumns.USER, SimColumns.SESSION, SimColumns.PAGE])[SimColumns.ITEM]
    heard_pages = sorted(tuple(i.item_id for i in page.items) for _, page, _ in learner.heard)
    assert heard_pages == sorted(tuple(items) for _, items in shown)
    clicks = sum(a.kind == "click" for _, _, d in learner.heard for a in d.actions)
    assert clicks == (runner.items[SimColumns.ACTION] == "click").sum()
    run.recommender = _Learner(learner, fail=True)
    failing = SimulationRunner(run)
    result = failing.run_sync()
    assert result.errors == result.user_sessions
    assert failing.sessions[SimColumns.ERRORS].map(" ".join).str.contains("cannot learn").all()


def test_recommender_failures_are_recorded_per_session(engine: OfflineEngine) -> None:
    class Broken:
        async def arecommend(self, user_id: str, history: list[str], k: int, exclude: list[str]) -> list[str]:
            if user_id.endswith(("1", "3")):
                raise RuntimeError("backend down")
            return ["1", "1", "unknown-id", "2", "3"]

    config = SimulationConfig(users=12, sessions=1, pages=2, page_size=5, seed=7)
    run = build_simulation(config, dataset=clustered_dataset(), engine=engine)
    run.recommender = Broken()
    runner = SimulationRunner(run)
    result = runner.run_sync()
    assert result.user_sessions == 12
    assert result.errors == 12
    errors = runner.sessions[SimColumns.ERRORS].map(" | ".join)
    assert errors.str.contains("backend down").any()
    assert errors.str.contains("duplicate ids").any()
    assert errors.str.contains("unknown ids: unknown-id").any()


_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
from _s1_data import clustered_dataset
from recpilot.simulation.assembly import build_simulation
from recpilot.simulation.batch import UserRows, ranked_width, simulate_chunk
from recpilot.simulation.runner import SimulationRunner
from recpilot.simulation.types import SimulationConfig
from test_sim_runner import _Delegate
config = SimulationConfig(users=40, sessions=2, pages=3, page_size=5, seed=11, chunk_users=4,
                          output_dir={out!r}, concurrency=2)
run = build_simulation(config, dataset=clustered_dataset())
run.recommender = _Delegate(run.recommender, delay=float(sys.argv[1]))
SimulationRunner(run, resume=sys.argv[2] == "resume").run_sync()
"""


def _script(tmp_path: Path, out: Path) -> Path:
    path = tmp_path / f"run_{out.name}.py"
    path.write_text(_SCRIPT.format(tests=str(Path(__file__).parent), out=str(out)), encoding="utf-8")
    return path


@pytest.mark.slow
def test_resume_after_kill_equals_a_clean_run(tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen([sys.executable, str(_script(tmp_path, killed)), "0.02", "fresh"])
    journal = killed / "journal"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(journal.glob("chunk-??????"))) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(journal.glob("chunk-??????")))
    assert 2 <= done_before < 10, "the run should be killed midway"
    assert not (killed / "items.parquet").exists()
    subprocess.run([sys.executable, str(_script(tmp_path, killed)), "0", "resume"], check=True)
    subprocess.run([sys.executable, str(_script(tmp_path, clean)), "0", "fresh"], check=True)
    resumed_items, clean_items = (
        pd.read_parquet(killed / "items.parquet"),
        pd.read_parquet(clean / "items.parquet"),
    )
    assert not resumed_items.duplicated(KEYS).any()
    pd.testing.assert_frame_equal(resumed_items, clean_items)
    pd.testing.assert_frame_equal(
        pd.read_parquet(killed / "sessions.parquet"), pd.read_parquet(clean / "sessions.parquet")
    )


def test_existing_output_needs_resume_and_the_same_settings(engine: OfflineEngine, tmp_path: Path) -> None:
    out = str(tmp_path / "run")
    _run(engine, output_dir=out)
    assert (tmp_path / "run" / "items.parquet").exists()
    assert (tmp_path / "run" / "summary.json").exists()
    with pytest.raises(ConfigError, match="--resume"):
        _run(engine, output_dir=out)
    config = SimulationConfig(users=30, sessions=2, pages=4, page_size=5, seed=99, output_dir=out)
    with pytest.raises(ConfigError, match="seed"):
        SimulationRunner(
            build_simulation(config, dataset=clustered_dataset(), engine=engine), resume=True
        ).run_sync()


class _LeavesAt(DecisionEngine):
    """Clicks the top item and leaves after page ``leave_at`` (a scripted engine, no randomness)."""

    name = "leaves-at"

    def __init__(self, leave_at: int) -> None:
        self.leave_at = leave_at

    async def adecide(self, persona: Persona, state: UserState, page: Page) -> PageDecision:
        top = page.items[0]
        click = SimAction(kind="click", item_id=top.item_id, position=top.position)
        return PageDecision(actions=[click], leave=page.index >= self.leave_at)


@pytest.mark.parametrize(("leave_at", "exits"), [(0, True), (1, True), (2, False), (9, False)])
def test_leaving_after_the_last_page_is_completion_not_exit(leave_at: int, exits: bool) -> None:
    config = SimulationConfig(users=6, sessions=1, pages=3, page_size=4, seed=3)
    run = build_simulation(config, dataset=clustered_dataset(), engine=_LeavesAt(leave_at))
    runner = SimulationRunner(run)
    result = runner.run_sync()
    assert result.exit_rate == (1.0 if exits else 0.0)
    assert result.completion_rate == pytest.approx(1.0 - result.exit_rate)
    sessions, items = runner.sessions, runner.items
    assert sessions[SimColumns.STAYED].tolist() == [not exits] * 6
    assert sessions[SimColumns.PAGES_SEEN].tolist() == [min(leave_at, 2) + 1] * 6
    exit_pages = sessions[SimColumns.EXIT_PAGE]
    assert (exit_pages == leave_at).all() if exits else exit_pages.isna().all()
    left_pages = items.loc[items[SimColumns.LEFT], SimColumns.PAGE].unique().tolist()
    assert left_pages == ([leave_at] if exits else [])


def test_fast_path_counts_a_leave_on_the_last_page_as_completion(engine: OfflineEngine) -> None:
    # a leave hazard of 1: every user decides to leave after every page
    hasty = OfflineEngine(BehaviourConfig(leave_hazard=1.0), seed=5).fit(
        clustered_dataset(), like=engine.preference
    )
    one_page = _run(hasty, pages=1)
    assert one_page.fast_path
    assert one_page.sessions[SimColumns.STAYED].all()
    assert not one_page.items[SimColumns.LEFT].any()
    three_pages = _run(hasty, pages=3)
    assert three_pages.sessions[SimColumns.EXIT_PAGE].tolist() == [0] * len(three_pages.sessions)
    assert three_pages.items[SimColumns.LEFT].all()


class _Closable(_LeavesAt):
    """Raises ``fault`` on the page of user number ``fail_on`` (in population order); counts aclose()."""

    def __init__(self, fault: BaseException | None = None, fail_on: str = "") -> None:
        super().__init__(leave_at=9)
        self.fault, self.fail_on, self.closed = fault, fail_on, 0

    async def adecide(self, persona: Persona, state: UserState, page: Page) -> PageDecision:
        if self.fault is not None and persona.user_id == self.fail_on:
            raise self.fault
        return await super().adecide(persona, state, page)

    async def aclose(self) -> None:
        self.closed += 1


def test_engine_faults_are_recorded_and_the_engine_closed() -> None:
    config = SimulationConfig(users=6, sessions=1, pages=2, page_size=4, seed=3)
    run = build_simulation(config, dataset=clustered_dataset(), engine=_Closable())
    victim = run.population[2].persona.user_id
    engine = _Closable(RuntimeError("model down"), fail_on=victim)
    runner = SimulationRunner(dataclasses.replace(run, engine=engine))
    result = runner.run_sync()
    assert result.errors == 1  # recorded for that session only
    assert result.engine_stats is None  # this engine keeps no books
    assert engine.closed == 1


def test_a_fatal_error_stops_the_run_keeps_the_checkpoint_and_closes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = SimulationConfig(
        users=6, sessions=1, pages=2, page_size=4, seed=3, chunk_users=2, output_dir=str(out)
    )
    run = build_simulation(config, dataset=clustered_dataset(), engine=_Closable())
    victim = run.population[3].persona.user_id  # in the second chunk
    miss = CacheMissError("abc", tmp_path / "cache.sqlite", "model 'm'")
    engine = _Closable(miss, fail_on=victim)
    with pytest.raises(
        SimulationStoppedError, match=r"chunk 2 of 3: LLM cache miss.*1 of 3 chunks are saved"
    ) as stop:
        SimulationRunner(dataclasses.replace(run, engine=engine)).run_sync()
    assert stop.value.cause is miss
    assert engine.closed == 1
    assert sorted(p.name for p in (out / "journal").iterdir()) == ["chunk-000000"]
    # the cause fixed, the resumed run completes and equals an uninterrupted one
    resumed = SimulationRunner(dataclasses.replace(run, engine=_Closable()), resume=True).run_sync()
    clean = SimulationRunner(
        dataclasses.replace(run, engine=_Closable(), config=config.model_copy(update={"output_dir": None}))
    ).run_sync()
    assert resumed.model_dump(exclude={"wall_time_s", "sessions_per_minute"}) == clean.model_dump(
        exclude={"wall_time_s", "sessions_per_minute"}
    )
