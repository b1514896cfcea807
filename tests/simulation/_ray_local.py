"""One local Ray for the slow tests that compare Ray shards with a single process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import pytest


@contextmanager
def local_ray() -> Iterator[ModuleType]:
    """Ray on this machine: two CPUs, a 100 MB object store, loopback only; shut down afterwards."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        object_store_memory=100_000_000,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()
