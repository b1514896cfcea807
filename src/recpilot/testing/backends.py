"""Test backends shared by the store and memory suites: SQLite everywhere, PostgreSQL when reachable."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

#: The PostgreSQL server tests use (trust auth); tests that need it skip with a reason without it.
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: Store and memory tests run once per backend.
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the checkout (where the development datasets live, if anywhere)."""
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def postgres_admin_engine() -> Iterator[sa.Engine]:
    """Yield an engine on the test database, or skip the test when the server cannot be reached."""
    engine = sa.create_engine(POSTGRES_ADMIN_URL)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as err:
        engine.dispose()
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432: {err.orig}")
    yield engine
    engine.dispose()


@contextmanager
def postgres_schema(admin: sa.Engine, prefix: str = "recpilot_test") -> Iterator[str]:
    """A store URL inside a fresh PostgreSQL schema ``<prefix>_<random>``, dropped with its tables on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    try:
        yield f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
