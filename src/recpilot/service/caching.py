"""The service's cache of user snapshots per version (the ranked prefixes live in
:mod:`recpilot.ranking.cache`).

The user's remembered preferences and feed rules are cached per ``(tenant, user)`` with the version
counter :class:`~recpilot.service.storage.ServiceStore` keeps in the database: every write through
:class:`~recpilot.service.TenantMemory` bumps it, in any process, so one indexed lookup per request
replaces reading the whole profile.
"""

from __future__ import annotations

from dataclasses import dataclass

from recpilot.memory.base import UserProfile
from recpilot.memory.feed_rules import FeedRule
from recpilot.ranking.cache import LruCache as LruCache


@dataclass(frozen=True)
class UserSnapshot:
    """What the tenant's memory held about a user at one version: preferences and feed rules."""

    version: int
    profile: UserProfile
    rules: tuple[FeedRule, ...]
