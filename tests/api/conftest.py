"""API fixtures: one service per backend per test session (models fitted once), keys per test.

SQLite runs on a temporary file; PostgreSQL in a fresh schema (reached through the URL's
``search_path``) dropped at the end. Tests isolate themselves with tenants of their own, so they can
share the session's service and app.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Tenant, make_service, new_tenant
from fastapi.testclient import TestClient

from recpilot.api import create_app
from recpilot.service import RecommenderService
from recpilot.testing.backends import BACKENDS, postgres_schema


@pytest.fixture(scope="session")
def api_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The settings home every test service shares, so fitted models are cached once."""
    return tmp_path_factory.mktemp("api-home")


@pytest.fixture(scope="session", params=BACKENDS)
def store_url(request: pytest.FixtureRequest, api_home: Path) -> Iterator[str]:
    """A database URL per backend, for the whole session."""
    if request.param == "sqlite":
        yield f"sqlite:///{api_home / 'api.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_admin"), "recpilot_api") as url:
        yield url


@pytest.fixture(scope="session")
def service(api_home: Path, store_url: str) -> Iterator[RecommenderService]:
    """The session's service on one backend."""
    loaded = make_service(api_home, store_url)
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def client(service: RecommenderService) -> Iterator[TestClient]:
    """An app over the session's service, its lifespan started."""
    with TestClient(create_app(service=service)) as started:
        yield started


@pytest.fixture
def tenant(service: RecommenderService) -> Tenant:
    """A tenant of this test alone."""
    return new_tenant(service)


@pytest.fixture
def other_tenant(service: RecommenderService) -> Tenant:
    """A second tenant of this test."""
    return new_tenant(service)
