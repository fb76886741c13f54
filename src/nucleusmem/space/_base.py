"""What every part of a `Session` shares: its service, its principal, and helpers."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from nucleusmem.errors import AccessDenied, Conflict, InvalidRequest
from nucleusmem.kv import KeyValue, Store
from nucleusmem.space._keys import K
from nucleusmem.space._models import Mode, Mount

if TYPE_CHECKING:
    from nucleusmem.space._service import MemSpaceService

__all__ = ["SessionBase", "retry_conflicts", "validated"]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_RETRIES = 32


def validated(model: type[M], value: Any) -> M:
    """``value`` as ``model`` (already one, or a dict); `InvalidRequest` if it does not fit."""
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise InvalidRequest(f"invalid {model.__name__}: {exc}") from None


async def retry_conflicts(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run an optimistic read-modify-write until it commits without `Conflict`.

    Used where a conflict only means another writer got there first (a space's byte
    counter, a cursor); each retry rereads, so the result stays exact.
    """
    for n in range(_RETRIES):
        try:
            return await attempt()
        except Conflict:
            if n == _RETRIES - 1:
                raise
            await asyncio.sleep(random.uniform(0, 0.002 * (n + 1)))
    raise AssertionError("unreachable")


class SessionBase:
    """The state a session's calls share."""

    def __init__(self, service: MemSpaceService, principal: str) -> None:
        self._svc = service
        self.principal = principal
        """The principal this session acts as."""

    @property
    def _store(self) -> Store:
        return self._svc.store

    async def _range_all(
        self, prefix: bytes, revision: int | None = None, *, page: int = 1000
    ) -> AsyncIterator[KeyValue]:
        after: bytes | None = None
        while True:
            result = await self._store.range(prefix, revision=revision, after=after, limit=page)
            for kv in result.items:
                yield kv
            if not result.more or not result.items:
                return
            after = result.items[-1].key
            revision = result.revision

    async def _check_mount_writable(self, agent: str, space: str) -> None:
        kv = await self._store.get(K.mount(agent, space))
        if kv is not None and Mount.model_validate_json(kv.value).mode is Mode.RO:
            raise AccessDenied(self.principal, f"write through {agent!r}'s read-only mount", space)

    async def aclose(self) -> None:
        """Nothing to release: the service owns the shared resources."""
