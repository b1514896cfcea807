"""Alembic's entry point for the service history; :func:`recpilot.store.migrate.upgrade` runs it."""

from recpilot.store.migrate import run_env

run_env()
