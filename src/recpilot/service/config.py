"""The service's configuration: one pydantic model, built from :mod:`recpilot.settings` or by hand."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from recpilot.registry import Spec
from recpilot.settings import Settings, get_settings


class LimitsConfig(BaseModel):
    """Per-request and per-key limits.

    Attributes:
        max_body_bytes: The largest request body accepted; larger bodies get HTTP 413.
        rate_per_s: Requests per second each API key may sustain (token bucket refill rate).
        redis_url: ``redis://host:port/db`` of a Redis server that keeps the buckets, so every server
            process (uvicorn worker) shares one limit per key; None keeps them in each process.
        burst: Requests a key may make at once before the bucket runs dry.
        max_k: The most items one recommendation may ask for.
        max_history: The most items of an ad-hoc history one request may carry.
        max_simulation_users: The most simulated users one simulation job may ask for.
        max_simulation_jobs: Simulation jobs one server runs (or queues) at once; more get HTTP 429.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    rate_per_s: float = Field(default=200.0, gt=0)
    burst: int = Field(default=400, ge=1)
    redis_url: str | None = None
    max_k: int = Field(default=100, ge=1, le=1000)
    max_history: int = Field(default=1000, ge=1)
    max_simulation_users: int = Field(default=1000, ge=1)
    max_simulation_jobs: int = Field(default=2, ge=1)


class ServiceConfig(BaseModel):
    """What a :class:`~recpilot.service.RecommenderService` runs on.

    Attributes:
        dataset: Built-in dataset name or a dataset path.
        store_url: SQLAlchemy URL of the database holding the catalog, memory and service state
            (API keys, tenants, sessions, feedback); None means a SQLite file under ``home``.
        home: Folder for the default store and cached fitted models (one sub-folder per dataset).
        llm: ``URL#MODEL`` of an OpenAI-compatible endpoint for the LLM brain; None uses the
            offline brain.
        roles: Recommender role -> model name or ``{"class", "config"}`` spec (None: the agent's
            defaults).
        memory: The profile memory's spec, a ``memory`` registry name or ``{"class", "config"}``
            (a memory that takes an ``engine`` gets the store's); None: the SQL memory in the store.
        limits: Body size, rate and request-size limits.
        ranking_cache: Rankings kept in memory (one per history and model; about 10 kB each) and
            filtered per request; 0 ranks the whole catalog on every request.
        policy: The tool policy of every tenant's agent: a built-in name (``default``, ``read-only``,
            ``allow-all``) or a ``.toml``/``.json`` policy file (:mod:`recpilot.safety`).
        tenant_policies: Tenant id -> policy (name or file) that replaces ``policy`` for that tenant.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "ml-latest-small"
    store_url: str | None = None
    home: Path = Field(default_factory=lambda: Path.home() / ".recpilot")
    llm: str | None = None
    roles: dict[str, str | Spec] | None = None
    memory: str | Spec | None = None
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    ranking_cache: int = Field(default=4096, ge=0)
    policy: str = "default"
    tenant_policies: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: object) -> ServiceConfig:
        """The configuration the ``RECPILOT_*`` settings describe, with ``overrides`` applied."""
        settings = settings if settings is not None else get_settings()
        values: dict[str, object] = {
            "dataset": settings.dataset,
            "store_url": settings.store_url,
            "home": settings.home,
        }
        values.update(overrides)
        return cls.model_validate(values)

    def dataset_home(self, dataset_name: str) -> Path:
        """The folder of one dataset's default store and models."""
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset_name) or "dataset"
        return self.home / slug

    def resolved_store_url(self, dataset_name: str) -> str:
        """The store URL to open: the configured one, or a SQLite file under :meth:`dataset_home`."""
        if self.store_url:
            return self.store_url
        return f"sqlite:///{self.dataset_home(dataset_name) / 'recpilot.db'}"
