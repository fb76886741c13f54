"""Open a client by URL: embedded on a store, or remote on a server.

- ``memory://``, ``sqlite:///path.db``, ``etcd://host:port,...``: the store is opened in
  this process and a `MemSpaceService` runs on it; the client acts as ``principal``
  (trusted, as embedded code is), else as the holder of ``token``, else as ``"local"``.
- ``http://host:port``, ``https://...``: calls go to a NucleusMem server, authenticated
  by ``token`` (default: the ``NUCLEUSMEM_TOKEN`` environment variable).

Closing the client closes whatever was opened for it: the service and the store, or
the HTTP connections.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from types import TracebackType
from typing import Any

from nucleusmem.client._client import AsyncClient
from nucleusmem.client._portal import Portal
from nucleusmem.client._sync import Client
from nucleusmem.errors import ConfigurationError, UnsupportedURL

__all__ = ["DEFAULT_PRINCIPAL", "AsyncClientOpener", "open", "open_async"]

DEFAULT_PRINCIPAL = "local"
"""The principal an embedded client acts as when given neither principal nor token."""

_EMBEDDED = ("memory", "sqlite", "etcd")
_REMOTE = ("http", "https")


def open(
    url: str,
    *,
    token: str | None = None,
    principal: str | None = None,
    timeout_s: float = 30.0,
) -> Client:
    """A sync `Client` for ``url``; see the module docstring for the URL forms."""
    portal = Portal()
    try:
        opened = portal.run(_open(url, token=token, principal=principal, timeout_s=timeout_s))
    except BaseException:
        portal.close()
        raise
    return Client(opened, portal=portal)


def open_async(
    url: str,
    *,
    token: str | None = None,
    principal: str | None = None,
    timeout_s: float = 30.0,
) -> AsyncClientOpener:
    """An `AsyncClient` for ``url``: ``await`` it, or use it with ``async with``."""
    return AsyncClientOpener(url, token=token, principal=principal, timeout_s=timeout_s)


class AsyncClientOpener:
    """What `open_async` returns: awaitable, and an async context manager that closes.

    ``client = await nucleusmem.open_async(url)`` (close it yourself with ``aclose``),
    or ``async with nucleusmem.open_async(url) as client: ...``.
    """

    def __init__(
        self, url: str, *, token: str | None, principal: str | None, timeout_s: float
    ) -> None:
        self.url = url
        """The URL to open."""
        self._token = token
        self._principal = principal
        self._timeout_s = timeout_s
        self._client: AsyncClient | None = None

    def __await__(self) -> Generator[Any, None, AsyncClient]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncClient:
        self._client = await self._open()
        return self._client

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _open(self) -> AsyncClient:
        return await _open(
            self.url, token=self._token, principal=self._principal, timeout_s=self._timeout_s
        )


async def _open(
    url: str, *, token: str | None, principal: str | None, timeout_s: float
) -> AsyncClient:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in _EMBEDDED:
        return await _open_embedded(url, token=token, principal=principal)
    if scheme in _REMOTE:
        if principal is not None:
            raise ConfigurationError(
                "a principal can be chosen only for embedded URLs; a server knows it by token"
            )
        from nucleusmem.client._http import HttpSession

        token = token or os.environ.get("NUCLEUSMEM_TOKEN") or None
        return AsyncClient(HttpSession(url, token=token, timeout_s=timeout_s))
    raise UnsupportedURL(url, "use memory://, sqlite:///path, etcd://host:port or http(s)://")


async def _open_embedded(url: str, *, token: str | None, principal: str | None) -> AsyncClient:
    from nucleusmem.kv import open_store
    from nucleusmem.recall._service import RecallService, RecallSession
    from nucleusmem.space import MemSpaceService

    store = open_store(url)
    try:
        service = MemSpaceService(store)
        await service.start()
        recall = RecallService(service)
        try:
            if principal is None and token is not None:
                name = (await service.authenticate(token)).principal
            else:
                name = principal or DEFAULT_PRINCIPAL
            session = RecallSession(service, name, recall)
        except BaseException:
            await service.aclose()
            raise
    except BaseException:
        await store.aclose()
        raise

    async def close() -> None:
        try:
            await recall.aclose()
            await service.aclose()
        finally:
            await store.aclose()

    return AsyncClient(session, on_close=close)
