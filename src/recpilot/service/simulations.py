"""Simulation jobs: ``recpilot simulate`` runs started over the API, in background threads.

Each job is a row of ``api_simulations`` (tenant, status, config, progress, result), so a job's state
survives a restart and every process serving the store sees it. Jobs run in a bounded thread pool of
the process that accepted them; that process touches the row's heartbeat while it lives.

Restarts: a job whose process stopped (no heartbeat for :data:`STALE_S`, or found queued/running
when a new service starts on the store and its owner is silent) is marked ``failed`` with a message
asking to submit it again. Jobs are not resumed: a run is seeded, so submitting the same request again
reproduces the same result.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa

from recpilot.data.dataset import Dataset
from recpilot.memory.sql_schema import write_transaction
from recpilot.models.registry import available_models
from recpilot.service.config import LimitsConfig
from recpilot.service.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    TooManyRequestsError,
)
from recpilot.service.schemas import SimulationJob, SimulationOutcome, SimulationRequest
from recpilot.service.storage import simulations

logger = logging.getLogger("recpilot.service.simulations")

#: Seconds without a heartbeat after which a queued or running job counts as interrupted.
STALE_S = 60.0
_HEARTBEAT_S = 10.0
_ACTIVE = ("queued", "running")
INTERRUPTED = "interrupted: the server running this job stopped; submit the same request again"


class SimulationJobs:
    """Accepts, runs and reports simulation jobs for many tenants.

    Args:
        engine: The service database.
        dataset: The served dataset (every job simulates on it).
        limits: Users per job and concurrent jobs.
        llm: ``URL#MODEL`` of the server's LLM (None: only the offline engine is offered).
    """

    def __init__(
        self, engine: sa.Engine, dataset: Dataset, limits: LimitsConfig, llm: str | None = None
    ) -> None:
        self._engine = engine
        self.dataset = dataset
        self.limits = limits
        self.llm = llm
        self.owner = uuid.uuid4().hex
        self._pool = ThreadPoolExecutor(limits.max_simulation_jobs, thread_name_prefix="recpilot-sim")
        self._running: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heart = threading.Thread(target=self._beat, name="recpilot-sim-heartbeat", daemon=True)
        self._heart.start()
        self._expire(time.time() - STALE_S)

    def submit(self, tenant: str, request: SimulationRequest) -> SimulationJob:
        """Queue a job for the tenant; returns it as accepted (``queued``: poll :meth:`job` for its
        progress, however fast the job starts).

        Raises:
            InvalidRequestError: The recommender or engine is not available, or too many users.
            TooManyRequestsError: This server already runs its limit of jobs.
        """
        models = available_models()  # the registry's names, plugins' included (never a dotted path)
        if request.recommender not in models:
            raise InvalidRequestError(
                f"recommender: {request.recommender!r} is not a model name; use one of {sorted(models)}"
            )
        if request.users > self.limits.max_simulation_users:
            raise InvalidRequestError(
                f"users={request.users} is over this server's limit of {self.limits.max_simulation_users}"
            )
        if request.engine == "llm" and not self.llm:
            raise InvalidRequestError("engine: this server has no LLM; use 'offline'")
        job_id = uuid.uuid4().hex
        with self._lock:
            active = sum(not future.done() for future in self._running.values())
            if active >= self.limits.max_simulation_jobs:
                raise TooManyRequestsError(
                    f"this server already runs {active} simulation jobs (its limit); retry when one ends"
                )
            now = time.time()
            row = {
                "job_id": job_id,
                "tenant_id": tenant,
                "owner": self.owner,
                "status": "queued",
                "config": request.model_dump_json(),
                "done": 0,
                "total": request.users,
                "created_at": now,
                "heartbeat_at": now,
            }
            with write_transaction(self._engine) as conn:
                conn.execute(simulations.insert().values(row))
            self._running[job_id] = self._pool.submit(self._run, job_id, request)
        return SimulationJob(
            job_id=job_id,
            status="queued",
            config=request,
            users_done=0,
            users_total=request.users,
            created_at=now,
        )

    def job(self, tenant: str, job_id: str) -> SimulationJob:
        """The state of one of the tenant's jobs.

        Raises:
            NotFoundError: The tenant has no such job.
        """
        row = self._row(tenant, job_id)
        return SimulationJob(
            job_id=row["job_id"],
            status=row["status"],
            config=SimulationRequest.model_validate_json(row["config"]),
            users_done=row["done"],
            users_total=row["total"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            error=row["error"],
        )

    def result(self, tenant: str, job_id: str) -> SimulationOutcome:
        """The summary metrics of a finished job.

        Raises:
            NotFoundError: The tenant has no such job.
            ConflictError: The job has not succeeded (yet).
        """
        row = self._row(tenant, job_id)
        if row["status"] == "failed":
            raise ConflictError(f"simulation {job_id} failed: {row['error']}")
        if row["status"] != "succeeded":
            raise ConflictError(
                f"simulation {job_id} is {row['status']} ({row['done']}/{row['total']} users); "
                f"poll GET /v1/simulations/{job_id} until it has succeeded"
            )
        return SimulationOutcome(job_id=job_id, result=json.loads(row["result"]))

    def close(self, *, wait: bool = False) -> None:
        """Stop the heartbeat and the pool (running jobs finish when ``wait``, else are abandoned)."""
        self._stop.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    # -- internals --------------------------------------------------------------------------------------

    def _run(self, job_id: str, request: SimulationRequest) -> None:
        from recpilot.simulation.assembly import build_simulation
        from recpilot.simulation.runner import SimulationRunner
        from recpilot.simulation.types import SimulationConfig

        self._update(job_id, status="running", started_at=time.time())
        try:
            config = SimulationConfig(
                dataset=self.dataset.name,
                chunk_users=max(1, request.users // 10),
                llm=self.llm if request.engine == "llm" else None,
                **request.model_dump(),
            )
            run = build_simulation(config, dataset=self.dataset)
            progress = lambda done, total: self._update(job_id, done=done, total=total)  # noqa: E731
            result = SimulationRunner(run, progress=progress).run_sync()
            self._update(
                job_id,
                status="succeeded",
                result=json.dumps(result.to_dict(), default=str),
                done=request.users,
                finished_at=time.time(),
            )
        except Exception as exc:  # a failed run is reported on the job, never crashes the server
            logger.exception("simulation %s failed", job_id)
            self._update(
                job_id, status="failed", error=f"{type(exc).__name__}: {exc}", finished_at=time.time()
            )

    def _row(self, tenant: str, job_id: str) -> dict[str, Any]:
        query = sa.select(simulations).where(
            simulations.c.job_id == job_id, simulations.c.tenant_id == tenant
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"simulation {job_id!r} not found")
        found = dict(row._mapping)
        stale = found["heartbeat_at"] < time.time() - STALE_S
        if found["status"] in _ACTIVE and found["owner"] != self.owner and stale:
            self._expire(time.time() - STALE_S)
            found.update(status="failed", error=INTERRUPTED)
        return found

    def _update(self, job_id: str, **values: Any) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(
                simulations.update()
                .where(simulations.c.job_id == job_id)
                .values(heartbeat_at=time.time(), **values)
            )

    def _expire(self, before: float) -> None:
        """Mark failed the active jobs whose owner has been silent since ``before``."""
        with write_transaction(self._engine) as conn:
            conn.execute(
                simulations.update()
                .where(
                    simulations.c.status.in_(_ACTIVE),
                    simulations.c.owner != self.owner,
                    simulations.c.heartbeat_at < before,
                )
                .values(status="failed", error=INTERRUPTED, finished_at=time.time())
            )

    def _beat(self) -> None:
        while not self._stop.wait(_HEARTBEAT_S):
            with self._lock:
                live = [job for job, future in self._running.items() if not future.done()]
                self._running = {job: f for job, f in self._running.items() if not f.done()}
            if live:
                try:
                    with write_transaction(self._engine) as conn:
                        conn.execute(
                            simulations.update()
                            .where(simulations.c.job_id.in_(live))
                            .values(heartbeat_at=time.time())
                        )
                except sa.exc.DBAPIError:
                    logger.warning("could not record the heartbeat of simulation jobs", exc_info=True)
