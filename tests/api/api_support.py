"""Helpers shared by the API tests (a module of its own: test folders are not packages here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from recpilot.service import LimitsConfig, RecommenderService, ServiceConfig


@dataclass(frozen=True)
class Tenant:
    """A tenant of one test and the headers its API key needs."""

    tenant_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer <key>``."""
        return {"Authorization": f"Bearer {self.key}"}


def new_tenant(service: RecommenderService) -> Tenant:
    """A fresh tenant with one key."""
    tenant_id = f"t-{uuid.uuid4().hex[:10]}"
    return Tenant(tenant_id, service.create_api_key(tenant_id).key)


def make_service(home: Path, store_url: str) -> RecommenderService:
    """A service on ``store_url`` as ``recpilot serve`` would load it (models cached under ``home``);
    simulation jobs are kept small, since generated requests start some."""
    limits = LimitsConfig(max_simulation_users=20)
    return RecommenderService.from_config(ServiceConfig(home=home, store_url=store_url, limits=limits))
