"""Runtime settings, read from the environment (``RECPILOT_`` prefix) when asked for, never at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """recpilot's runtime settings.

    Attributes:
        home: Folder for recpilot's files (models, the default store).
        cache_dir: Folder for downloaded datasets.
        store_url: SQLAlchemy URL of the catalog store; defaults to a SQLite file per dataset under
            ``home``.
        dataset: The dataset commands use when none is given.
    """

    model_config = SettingsConfigDict(env_prefix="RECPILOT_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".recpilot")
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "recpilot")
    store_url: str | None = None
    dataset: str = "ml-latest-small"


def get_settings() -> Settings:
    """Read the settings from the environment now."""
    return Settings()
