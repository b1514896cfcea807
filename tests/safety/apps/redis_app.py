"""An app factory for ``uvicorn --factory --workers 2`` in the shared rate-limit test (read from the
environment: the SQLite file holding the test's key, and the Redis URL or none)."""

from __future__ import annotations

import os

from fastapi import FastAPI

from recpilot.agent.runtime import build_runtime
from recpilot.api import create_app
from recpilot.service import LimitsConfig, RecommenderService
from recpilot.testing.injection_catalog import build_catalog


def create() -> FastAPI:
    """The app over the suite's film catalog, with a small rate limit."""
    limits = LimitsConfig(rate_per_s=1.0, burst=20, redis_url=os.environ.get("TEST_REDIS_URL") or None)
    runtime = build_runtime(build_catalog(), store_url=os.environ["TEST_STORE_URL"])
    return create_app(service=RecommenderService(runtime, limits=limits))
