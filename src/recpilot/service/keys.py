"""Tenants and API keys: issuing, verifying (with a short in-process cache), revoking, the default key.

The default key of ``recpilot serve``: the database stores only hashes, so the plaintext of the one
key ``serve`` hands to the chat page is kept in a file readable by its owner only (mode 0600) under
the settings home, one file per store. Each start reuses it while the store still accepts it, and
issues (and writes) a new one only when the file is missing or the key was revoked, so restarts do not
pile up keys.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from recpilot.errors import ConfigError
from recpilot.service.errors import AuthenticationError
from recpilot.service.storage import ServiceStore

_TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: How long a verified API key is trusted without asking the database again (revocation is
#: immediate in this process, at most this late in others).
KEY_CACHE_S = 30.0


@dataclass(frozen=True)
class Principal:
    """Who is calling: the API key's id and its tenant."""

    key_id: str
    tenant_id: str


@dataclass(frozen=True)
class IssuedKey:
    """An API key; :attr:`key` is shown to its owner and stored only as a hash.

    Attributes:
        key_id: The key's public id (revoke it by this id).
        key: The full secret key (``rp_<id>_<secret>``).
        tenant_id: Whose key it is.
        created: False when an existing key was reused (see :meth:`KeyRing.default_key`).
    """

    key_id: str
    key: str
    tenant_id: str
    created: bool = True


class KeyRing:
    """Tenants and API keys in the service tables.

    Args:
        state: The service tables.
    """

    def __init__(self, state: ServiceStore) -> None:
        self.state = state
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def create_tenant(self, tenant_id: str, name: str | None = None) -> str:
        """Create a tenant (idempotent); ids are 1-64 lower-case letters, digits, ``-`` or ``_``.

        Raises:
            ConfigError: The id is not of that form.
        """
        if not _TENANT_ID.match(tenant_id):
            raise ConfigError(
                f"tenant id {tenant_id!r} is invalid: use 1-64 lower-case letters, digits, '-' or '_'"
            )
        self.state.ensure_tenant(tenant_id, name)
        return tenant_id

    def create_key(self, tenant_id: str, *, name: str = "") -> IssuedKey:
        """Issue an API key for a tenant, creating the tenant when it does not exist."""
        self.create_tenant(tenant_id)
        key_id, key = self.state.issue_key(tenant_id, name)
        return IssuedKey(key_id=key_id, key=key, tenant_id=tenant_id)

    def default_key(self, tenant_id: str, path: Path, *, name: str = "recpilot serve") -> IssuedKey:
        """The key kept in ``path`` when the store still accepts it for ``tenant_id``, else a new one
        written there (mode 0600)."""
        if path.is_file():
            kept = path.read_text(encoding="utf-8").strip()
            try:
                key_id, owner = self.state.verify_key(kept)
            except AuthenticationError:
                pass
            else:
                if owner == tenant_id:
                    return IssuedKey(key_id=key_id, key=kept, tenant_id=tenant_id, created=False)
        issued = self.create_key(tenant_id, name=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(issued.key + "\n")
        os.replace(temporary, path)
        return issued

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when there is no such active key."""
        with self._lock:
            self._verified = {k: v for k, v in self._verified.items() if v[0].key_id != key_id}
        return self.state.revoke_key(key_id)

    def authenticate(self, key: str) -> Principal:
        """The caller behind an API key.

        Raises:
            AuthenticationError: The key is malformed, unknown or revoked.
        """
        now = time.monotonic()
        cached = self._verified.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        key_id, tenant_id = self.state.verify_key(key)
        principal = Principal(key_id=key_id, tenant_id=tenant_id)
        with self._lock:
            self._verified[key] = (principal, now + KEY_CACHE_S)
        return principal


def default_key_path(home: Path, store_url: str) -> Path:
    """Where ``recpilot serve`` keeps its default key for one store, under the settings ``home``."""
    digest = hashlib.sha256(store_url.encode("utf-8")).hexdigest()[:16]
    return home / "keys" / f"default-{digest}.key"
