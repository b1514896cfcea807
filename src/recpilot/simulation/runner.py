"""The single-process simulation runner: chunks of users, bounded async concurrency, checkpoint/resume.

The population is cut into chunks of ``chunk_users``; each chunk runs all sessions of its users and is
committed to the :class:`~recpilot.simulation.journal.Journal` atomically. When the engine is the
offline engine and the recommender a model (ranking from its stored rows, or re-ranking every page
from the session's clicks with ``rerank``), a chunk runs on the vectorised fast path
(:mod:`recpilot.simulation.batch`); otherwise every user is a task under a semaphore, calling
:meth:`DecisionEngine.adecide` page by page (the LLM engine plugs in here).

Faults of the recommender or the engine are recorded per session and the run goes on, except the
fatal ones (:data:`FATAL_ERRORS`: a configuration error, a replay-only LLM cache without the answer):
they would fail every session alike, so the run stops with :class:`SimulationStoppedError`, keeping
the committed chunks for ``--resume``. The engine's ``aclose()`` (its HTTP client) is awaited when the
run ends, on errors too.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError, RecpilotError
from recpilot.llm.cache import CacheMissError
from recpilot.simulation.batch import UserRows, ranked_width, session_seeds, simulate_chunk
from recpilot.simulation.engine import DecisionEngine, engine_stats, stats_since
from recpilot.simulation.environment import (
    CatalogGuard,
    FeedbackObserver,
    ModelRecommender,
    RecommenderUnderTest,
)
from recpilot.simulation.instructions import hear_instruction, may_instruct
from recpilot.simulation.journal import Journal, records_to_frames, run_identity, summary_metrics
from recpilot.simulation.offline_engine import OfflineEngine
from recpilot.simulation.persona import SimulatedUser, genre_matrix
from recpilot.simulation.types import Page, SessionRecord, ShownItem, SimulationConfig, SimulationResult

Progress = Callable[[int, int], None]

#: Errors that stop a run instead of being recorded per session: they would fail every session alike.
FATAL_ERRORS: tuple[type[BaseException], ...] = (ConfigError, CacheMissError)


class SimulationStoppedError(RecpilotError):
    """A fatal error stopped the run; the chunks committed before it are kept for ``--resume``.

    Args:
        cause: The fatal error.
        chunk: The 0-based chunk that was running.
        chunks: How many chunks the run has.
        saved: How many chunks are committed.
        output_dir: The run's folder (``None``: results were kept in memory, nothing to resume).
    """

    def __init__(
        self, cause: BaseException, *, chunk: int, chunks: int, saved: int, output_dir: str | None
    ) -> None:
        self.cause = cause
        self.chunk = chunk
        self.saved = saved
        where = (
            f"{saved} of {chunks} chunks are saved in {output_dir}; fix the cause and rerun the same "
            "command with --resume to continue"
            if output_dir
            else "nothing was saved (run with --output DIR to make the run resumable)"
        )
        super().__init__(f"simulation stopped in chunk {chunk + 1} of {chunks}: {cause} ({where})")


@dataclass
class SimulationRun:
    """Everything a run needs, assembled (see :func:`recpilot.simulation.assembly.build_simulation`).

    Attributes:
        config: The run's settings.
        dataset: The dataset the personas and the catalog come from.
        population: The simulated users.
        engine: The decision engine.
        recommender: The recommender under test.
        recommender_name: Its name in results.
    """

    config: SimulationConfig
    dataset: Dataset
    population: list[SimulatedUser]
    engine: DecisionEngine
    recommender: RecommenderUnderTest
    recommender_name: str


def run_id_of(config: SimulationConfig) -> str:
    """The run id: the config's, or a hash of the settings that determine results."""
    if config.run_id:
        return config.run_id
    digest = hashlib.sha1(json.dumps(run_identity(config), sort_keys=True, default=str).encode()).hexdigest()
    return f"sim-{digest[:10]}"


class SimulationRunner:
    """Runs a :class:`SimulationRun` to completion, resumable.

    Args:
        run: The assembled run.
        resume: Continue a run found in ``config.output_dir``.
        progress: Called with ``(users done, users total)`` after each chunk.
    """

    def __init__(self, run: SimulationRun, *, resume: bool = False, progress: Progress | None = None) -> None:
        self.run = run
        self.config = run.config
        self.run_id = run_id_of(run.config)
        self.resume = resume
        self.progress = progress
        self.guard = CatalogGuard(run.dataset.items.external_ids)

    @property
    def fast_path(self) -> bool:
        """Whether chunks run on the vectorised path."""
        engine, rec = self.run.engine, self.run.recommender
        return (
            isinstance(engine, OfflineEngine)
            and isinstance(rec, ModelRecommender)
            and not isinstance(rec, FeedbackObserver)  # learners must hear every page
            and not self.config.instructions  # instructions are spoken page by page
            and engine.dataset is not None
            and rec.same_space(engine.dataset.users.external_ids, engine.dataset.items.external_ids)
        )

    def run_sync(self) -> SimulationResult:
        """Run from synchronous code."""
        return asyncio.run(self.arun())

    async def arun(self) -> SimulationResult:
        """Simulate every pending chunk, then write the tables and return the summary.

        Raises:
            SimulationStoppedError: A fatal error (see :data:`FATAL_ERRORS`) stopped the run.
        """
        cfg, engine = self.config, self.run.engine
        root = Path(cfg.output_dir) if cfg.output_dir else None
        journal = Journal(root, cfg, resume=self.resume)
        before = engine_stats(engine)
        try:
            result = await self._run_chunks(journal)
            # read before closing: the HTTP attempts are counted by the connection's limiter
            result.engine_stats = stats_since(before, engine_stats(engine))
        finally:
            closer = getattr(engine, "aclose", None)
            if closer is not None:
                await closer()
        journal.finalize(self.items, self.sessions, result.to_dict())
        return result

    async def _run_chunks(self, journal: Journal) -> SimulationResult:
        cfg = self.config
        done = journal.done()
        population = self.run.population
        chunks = [population[i : i + cfg.chunk_users] for i in range(0, len(population), cfg.chunk_users)]
        started = time.perf_counter()
        computed = 0
        rows: UserRows | None = None  # per-real-user inputs, shared by the chunks of the fast path
        for number, chunk in enumerate(chunks):
            if number in done:
                continue
            if self.fast_path:
                assert isinstance(self.run.engine, OfflineEngine)
                assert isinstance(self.run.recommender, ModelRecommender)
                width = ranked_width(cfg.sessions, cfg.pages, cfg.page_size)
                rows = rows or UserRows(self.run.engine, self.run.recommender, width)
                items, sessions = simulate_chunk(
                    self.run.engine,
                    self.run.recommender,
                    chunk,
                    run_seed=cfg.seed,
                    run_id=self.run_id,
                    sessions=cfg.sessions,
                    pages=cfg.pages,
                    page_size=cfg.page_size,
                    rerank=self.run.recommender.use_history,
                    rows=rows,
                )
            else:
                try:
                    items, sessions = await self._simulate_async(chunk)
                except FATAL_ERRORS as exc:
                    raise SimulationStoppedError(
                        exc,
                        chunk=number,
                        chunks=len(chunks),
                        saved=len(journal.done()),
                        output_dir=cfg.output_dir,
                    ) from exc
            journal.commit(number, items, sessions)
            computed += len(chunk) * cfg.sessions
            if self.progress is not None:
                self.progress(min(len(population), (number + 1) * cfg.chunk_users), len(population))
        wall = time.perf_counter() - started
        items, sessions = journal.tables()
        genres, _ = genre_matrix(self.run.dataset)
        metrics = summary_metrics(
            items, sessions, self.run.dataset.items.external_ids, genres, instructions=cfg.instructions
        )
        result = SimulationResult(
            run_id=self.run_id,
            recommender=self.run.recommender_name,
            engine=self.run.engine.name,
            wall_time_s=wall,
            sessions_per_minute=computed / wall * 60.0 if wall > 0 else 0.0,
            **metrics,
        )
        self.items, self.sessions = items, sessions
        return result

    async def _simulate_async(self, chunk: Sequence[SimulatedUser]) -> tuple[pd.DataFrame, pd.DataFrame]:
        seeds = session_seeds(self.config.seed, chunk, self.config.sessions)
        semaphore = asyncio.Semaphore(self.config.concurrency)

        async def one(row: int, user: SimulatedUser) -> list[SessionRecord]:
            async with semaphore:
                return await self.simulate_user(user, [int(s) for s in seeds[row]])

        try:
            # A task group cancels the other users as soon as one meets a fatal error.
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(row, user)) for row, user in enumerate(chunk)]
        except BaseExceptionGroup as failures:
            raise _first_cause(failures) from None
        results = [task.result() for task in tasks]
        pairs = [
            (user.persona.user_id, record)
            for user, records in zip(chunk, results, strict=True)
            for record in records
        ]
        return records_to_frames(self.run_id, pairs)

    async def simulate_user(self, user: SimulatedUser, seeds: Sequence[int]) -> list[SessionRecord]:
        """All sessions of one simulated user on the async path; failures are recorded, never raised."""
        cfg, engine, persona = self.config, self.run.engine, user.persona
        state = engine.initial_state(persona)
        records = []
        for session, seed in enumerate(seeds):
            state = state.model_copy(update={"session": session, "page": 0, "seed": seed})
            record = SessionRecord(user_id=user.sim_id, session=session)
            shown: list[str] = []
            for p in range(cfg.pages):
                ids, errors = await self.guard.fetch_page(
                    self.run.recommender,
                    persona.user_id,
                    persona.history + state.consumed,
                    cfg.page_size,
                    state.consumed + shown,
                    cfg.timeout_s,
                    sim_id=user.sim_id,
                )
                record.errors.extend(errors)
                if not ids:
                    record.exit_page = p
                    break
                page = Page(
                    session=session, index=p, items=[self._shown(i, pos) for pos, i in enumerate(ids)]
                )
                try:
                    decision = await engine.adecide(persona, state, page)
                except FATAL_ERRORS:
                    raise
                except Exception as exc:  # an engine fault ends the session, recorded
                    record.errors.append(f"engine {engine.name!r} failed: {type(exc).__name__}: {exc}")
                    record.exit_page = p
                    break
                if decision.fatigue is None:
                    decision = decision.model_copy(
                        update={"fatigue": min(1.0, state.fatigue + 1.0 / cfg.pages)}
                    )
                shown.extend(ids)
                state = _apply(state, decision, ids, p)
                record.pages.append(page)
                if (
                    decision.leave
                    and p < cfg.pages - 1
                    and may_instruct(cfg, record, decision, state.seed, p)
                ):
                    decision = await hear_instruction(
                        engine,
                        self.run.recommender,
                        user,
                        state,
                        record,
                        decision,
                        genres_of=self._genres_of,
                        timeout_s=cfg.timeout_s,
                        fatal=FATAL_ERRORS,
                    )
                record.decisions.append(decision)
                if isinstance(self.run.recommender, FeedbackObserver):
                    try:
                        self.run.recommender.observe(persona.user_id, page, decision)
                    except Exception as exc:  # the recommender's fault is data, not a crash
                        record.errors.append(f"recommender observe failed: {type(exc).__name__}: {exc}")
                if decision.leave and p < cfg.pages - 1:  # leaving after the last page is the end
                    record.exit_page = p
                    break
            try:
                record.interview = await engine.ainterview(persona, state, record)
            except FATAL_ERRORS:
                raise
            except Exception as exc:  # recorded like any engine failure
                record.errors.append(f"engine {engine.name!r} interview failed: {type(exc).__name__}: {exc}")
            records.append(record)
            state = engine.carry_over(persona, state)
        return records

    def _genres_of(self, item_id: str) -> list[str]:
        return self._catalog.get(item_id, ("", {}))[1].get("genres", [])

    @functools.cached_property
    def _catalog(self) -> dict[str, tuple[str, dict[str, list[str]]]]:
        """Titles and attributes by item id, for the pages of the async path (built when first needed)."""
        return _catalog_entries(self.run.dataset)

    def _shown(self, item_id: str, position: int) -> ShownItem:
        title, attributes = self._catalog.get(item_id, ("", {}))
        return ShownItem(item_id=item_id, position=position, title=title, attributes=attributes)


def _first_cause(group: BaseExceptionGroup[Any]) -> BaseException:
    """The first leaf of an exception group (the error that stopped the task group)."""
    first: BaseException = group.exceptions[0]
    return _first_cause(first) if isinstance(first, BaseExceptionGroup) else first


def _apply(state: Any, decision: Any, ids: list[str], page: int) -> Any:
    consumed = list(state.consumed)
    ratings = dict(state.ratings)
    for action in decision.actions:
        if action.kind in ("click", "rate") and action.item_id is not None and action.item_id not in consumed:
            consumed.append(action.item_id)
        if action.kind == "rate" and action.item_id is not None and action.rating is not None:
            ratings[action.item_id] = float(action.rating)
    return state.model_copy(
        update={
            "page": page + 1,
            "satisfaction": decision.satisfaction,
            "fatigue": decision.fatigue,
            "shown": [*state.shown, *ids],
            "consumed": consumed,
            "ratings": ratings,
        }
    )


def _catalog_entries(dataset: Dataset) -> dict[str, tuple[str, dict[str, list[str]]]]:
    catalog = dataset.catalog
    titles = catalog["title"].astype(str).tolist() if "title" in catalog.columns else [""] * len(catalog)
    genres, names = genre_matrix(dataset)
    years = catalog["year"].tolist() if "year" in catalog.columns else [None] * len(catalog)
    out: dict[str, tuple[str, dict[str, list[str]]]] = {}
    for i, item in enumerate(dataset.items.external_ids.tolist()):
        attributes: dict[str, list[str]] = {}
        row = genres.indices[genres.indptr[i] : genres.indptr[i + 1]]
        if len(row):
            attributes["genres"] = [names[g] for g in row]
        year: Any = years[i]
        if year is not None and not pd.isna(year):
            attributes["year"] = [str(int(year))]
        out[str(item)] = (titles[i], attributes)
    return out
