"""Simulation jobs over HTTP: run in the background, tenant-owned, bounded, persisted across restarts."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from api_support import Tenant, make_service
from fastapi.testclient import TestClient

from recpilot.service import RecommenderService
from recpilot.service.simulations import INTERRUPTED, STALE_S
from recpilot.service.storage import simulations
from recpilot.simulation.types import SimulationResult

SMALL = {"recommender": "pop", "users": 4, "pages": 2, "page_size": 5, "seed": 3}


#: How long a test waits for a job (or a free job slot): a bound for a stuck job, never a speed test;
#: generous, since a machine under heavy load runs even a 4-user job slowly.
WAIT_S = 600.0


def _wait(client: TestClient, tenant: Tenant, job_id: str, timeout: float = WAIT_S) -> dict[str, Any]:
    """The job once it has ended (succeeded or failed), or as it is after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/simulations/{job_id}", headers=tenant.headers).json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def _submit(client: TestClient, tenant: Tenant, body: dict[str, Any], timeout: float = WAIT_S) -> Any:
    """Start a job, retrying while the server runs its limit of jobs (429), as a client should."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.post("/v1/simulations", json=body, headers=tenant.headers)
        if answer.status_code != 429 or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)


@pytest.mark.slow
def test_job_runs_reports_progress_and_result_survives_restart(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, api_home: Path, store_url: str
) -> None:
    started = _submit(client, tenant, SMALL)
    assert started.status_code == 202
    job_id = started.json()["job_id"]
    assert started.json()["status"] == "queued", "the answer says what was accepted, however fast it runs"
    assert started.json()["users_total"] == 4
    job = _wait(client, tenant, job_id)
    assert job["status"] == "succeeded", job
    assert job["users_done"] == 4
    result = client.get(f"/v1/simulations/{job_id}/result", headers=tenant.headers).json()["result"]
    assert set(result) == set(SimulationResult.model_fields)
    assert result["user_sessions"] == 4
    assert 0 <= result["ctr"] <= 1
    # Another tenant sees nothing of it.
    assert client.get(f"/v1/simulations/{job_id}", headers=other_tenant.headers).status_code == 404
    assert client.get(f"/v1/simulations/{job_id}/result", headers=other_tenant.headers).status_code == 404
    # A restarted server (a new service on the same store) reports the same job and result.
    restarted = make_service(api_home, store_url)
    try:
        assert restarted.simulations.job(tenant.tenant_id, job_id).status == "succeeded"
        assert restarted.simulations.result(tenant.tenant_id, job_id).result == result
    finally:
        restarted.close()


@pytest.mark.slow
def test_limits_give_clear_4xx(client: TestClient, tenant: Tenant, service: RecommenderService) -> None:
    h = tenant.headers
    limit = service.limits.max_simulation_users
    over = client.post("/v1/simulations", json={**SMALL, "users": limit + 1}, headers=h)
    assert over.status_code == 422
    assert f"limit of {limit}" in over.json()["detail"]
    unknown = client.post("/v1/simulations", json={**SMALL, "recommender": "http://evil"}, headers=h)
    assert unknown.status_code == 422
    assert "not a model name" in unknown.json()["detail"]
    llm = client.post("/v1/simulations", json={**SMALL, "engine": "llm"}, headers=h)
    assert llm.status_code == 422
    assert "no LLM" in llm.json()["detail"]
    answers = [
        client.post("/v1/simulations", json={**SMALL, "users": 1}, headers=h)
        for _ in range(service.limits.max_simulation_jobs + 1)
    ]
    assert answers[-1].status_code == 429
    assert "limit" in answers[-1].json()["detail"]
    assert all(a.status_code in (202, 429) for a in answers)
    for answer in answers:  # let the accepted ones finish before other tests run
        if answer.status_code == 202:
            _wait(client, tenant, answer.json()["job_id"])


def test_job_interrupted_by_a_restart_is_failed(
    client: TestClient, tenant: Tenant, service: RecommenderService
) -> None:
    old = time.time() - STALE_S - 5
    with service.state.engine.begin() as conn:
        conn.execute(
            simulations.insert().values(
                job_id="crashed0001",
                tenant_id=tenant.tenant_id,
                owner="a-process-that-died",
                status="running",
                config='{"recommender": "pop", "users": 4}',
                done=1,
                total=4,
                created_at=old,
                started_at=old,
                heartbeat_at=old,
            )
        )
    job = client.get("/v1/simulations/crashed0001", headers=tenant.headers).json()
    assert job["status"] == "failed"
    assert job["error"] == INTERRUPTED
    result = client.get("/v1/simulations/crashed0001/result", headers=tenant.headers)
    assert result.status_code == 409
    assert "submit the same request again" in result.json()["detail"]


def test_the_answer_to_a_submission_says_queued_however_fast_the_job_runs(
    client: TestClient, tenant: Tenant, service: RecommenderService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that ends before the answer is written (a busy machine can pause the request's thread
    that long) is still answered as accepted; its progress is what GET reports."""

    class _Finished:  # the job "runs" to its end inside submit: the race at its most extreme
        def submit(self, _run: Callable[..., None], job_id: str, *_: Any) -> Future[None]:
            with service.state.engine.begin() as conn:
                conn.execute(
                    simulations.update()
                    .where(simulations.c.job_id == job_id)
                    .values(status="succeeded", done=4, result="{}", finished_at=time.time())
                )
            done: Future[None] = Future()
            done.set_result(None)
            return done

    monkeypatch.setattr(service.simulations, "_pool", _Finished())
    started = client.post("/v1/simulations", json=SMALL, headers=tenant.headers)
    assert (started.status_code, started.json()["status"], started.json()["users_done"]) == (202, "queued", 0)
    job = client.get(f"/v1/simulations/{started.json()['job_id']}", headers=tenant.headers).json()
    assert (job["status"], job["users_done"]) == ("succeeded", 4)
