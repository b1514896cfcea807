"""What the SQL memory's modules share: the table metadata and how texts become storable and keyed."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

metadata = sa.MetaData()


def storable(text: str) -> str:
    """``text`` as every database stores it: NUL characters (PostgreSQL refuses them) replaced."""
    return text.replace("\x00", "\ufffd")


def value_key(value: str) -> str:
    """The unique key of a preference value: case-insensitive, a fixed 64 characters whatever its length."""
    return hashlib.sha256(value.lower().encode("utf-8")).hexdigest()


def lock_key(namespace: str, name: str) -> int:
    """A 64-bit advisory lock key for ``name`` (hash collisions only make two writers wait)."""
    digest = hashlib.sha256(f"recpilot.{namespace}\x1f{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
