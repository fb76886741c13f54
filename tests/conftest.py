"""Fixtures shared by the suites: one store per backend, real etcd on free ports."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from nucleusmem.kv import MemoryStore, Store, open_store

if TYPE_CHECKING:
    from nucleusmem.testing.etcd import EtcdServer

BACKENDS = ["memory", "sqlite", "etcd"]
_namespaces = itertools.count()


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    """One real etcd for the session; tests keep apart by key namespace."""
    from nucleusmem.testing.etcd import EtcdServer

    with EtcdServer() as server:
        yield server


@pytest.fixture
def open_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Store]:
    """Open a fresh store of the named backend (the same data for every call)."""

    def opener(backend: str) -> Store:
        if backend == "memory":
            return MemoryStore()
        if backend == "sqlite":
            return open_store(f"sqlite://{tmp_path / 'kv.db'}")
        if backend == "etcd":
            server: EtcdServer = request.getfixturevalue("etcd_server")
            return open_store(server.url)
        raise ValueError(backend)

    return opener


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, open_backend: Callable[[str], Store]
) -> AsyncIterator[Store]:
    """A store of each backend in turn."""
    opened = open_backend(request.param)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def ns() -> bytes:
    """A key prefix no other test uses, so tests can share one etcd."""
    return b"t%06d/" % next(_namespaces)
