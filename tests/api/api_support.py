"""Helpers shared by the API tests (a module of its own: test folders are not packages here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from recpilot.service import RecommenderService


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
