"""Test backends shared by the store and memory suites: SQLite everywhere, PostgreSQL when reachable."""

from __future__ import annotations

from collections.abc import Iterator
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
