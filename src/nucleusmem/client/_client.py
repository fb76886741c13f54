"""`AsyncClient`: the SDK, written once on top of `SpaceAPI`.

The same client drives an embedded space layer (a `Session`) and a remote server (the
HTTP session), so code behaves alike either way. Open one with
`nucleusmem.open_async(url)`; `Client` is its sync twin.

```python
async with nucleusmem.open_async("sqlite:///data/nm.db") as client:
    await client.create_space("team", members={"bob": "rw"})
    team = client.space("team")
    await team.put("plan", "ship it", agent="ada")
    planner = await client.agent("planner").mount("team")
    await planner.send(to="bob", ref_key="plan")
```
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Self

from nucleusmem.client._convert import ModeLike, SpaceKindLike, to_kind, to_mode
from nucleusmem.client._space import AsyncMountedSpace, AsyncSpace
from nucleusmem.space._api import SpaceAPI
from nucleusmem.space._models import Mode, Mount, PrincipalInfo, SpaceInfo

__all__ = ["AsyncAgent", "AsyncClient"]


class AsyncClient:
    """The calls of one principal: principals, spaces, and handles on spaces and agents.

    ``on_close`` runs after the session is closed, to release what was opened for it
    (an embedded service and its store). Closing twice is harmless.
    """

    def __init__(
        self, api: SpaceAPI, *, on_close: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.api = api
        """The session every call goes through."""
        self._on_close = on_close
        self._closed = False

    # principals ----------------------------------------------------------------------
    async def whoami(self) -> PrincipalInfo:
        """The principal this client acts as."""
        return await self.api.whoami()

    async def create_principal(self, name: str, *, admin: bool = False) -> str:
        """Create a principal and return its first bearer token (admin only)."""
        return await self.api.create_principal(name, admin=admin)

    async def issue_token(self, name: str) -> str:
        """A new bearer token for an existing principal (admin only)."""
        return await self.api.issue_token(name)

    # spaces --------------------------------------------------------------------------
    async def create_space(
        self,
        name: str,
        *,
        kind: SpaceKindLike = "shared",
        members: Mapping[str, ModeLike] | None = None,
        quota_bytes: int | None = None,
        history_retention_s: float | None = None,
        description: str = "",
    ) -> SpaceInfo:
        """Create a space owned by this principal; `space(name)` gives a handle on it.

        ``members`` maps principals to ``"rw"`` or ``"ro"``; ``quota_bytes`` caps the
        live content (None: unlimited); ``history_retention_s`` is how long old versions
        are kept (None: forever).
        """
        chosen: dict[str, Mode] | None = None
        if members is not None:
            chosen = {principal: to_mode(mode) for principal, mode in members.items()}
        return await self.api.create_space(
            name,
            kind=to_kind(kind),
            members=chosen,
            quota_bytes=quota_bytes,
            history_retention_s=history_retention_s,
            description=description,
        )

    async def spaces(self) -> builtins.list[SpaceInfo]:
        """The spaces this principal owns or is a member of, by name."""
        return await self.api.list_spaces()

    async def delete_space(self, name: str) -> None:
        """Delete a space and everything in it (owner only)."""
        await self.api.delete_space(name)

    def space(self, name: str) -> AsyncSpace:
        """A handle on a space (no I/O; a missing space raises `NotFound` when used)."""
        return AsyncSpace(self.api, name)

    def agent(self, agent_id: str) -> AsyncAgent:
        """A handle on an agent, to mount spaces as it (no I/O)."""
        return AsyncAgent(self.api, agent_id)

    # lifecycle -----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """Whether `aclose` has been called."""
        return self._closed

    async def aclose(self) -> None:
        """Close the session, then release what was opened for it."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.api.aclose()
        finally:
            if self._on_close is not None:
                await self._on_close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncClient {type(self.api).__name__}{' closed' if self._closed else ''}>"


class AsyncAgent:
    """An agent id, and the spaces it mounts; mounts are stored, so a restart keeps them."""

    def __init__(self, api: SpaceAPI, agent_id: str) -> None:
        self.api = api
        """The session calls go through."""
        self.id = agent_id
        """The agent's id."""

    async def mount(self, space: str, mode: ModeLike = "rw") -> AsyncMountedSpace:
        """Mount ``space`` for this agent, and return a handle that acts as it."""
        mount = await self.api.mount(self.id, space, mode=to_mode(mode))
        return AsyncMountedSpace(self.api, space, agent=self.id, mode=mount.mode)

    async def unmount(self, space: str) -> None:
        """Unmount ``space`` from this agent."""
        await self.api.unmount(self.id, space)

    async def mounts(self) -> list[Mount]:
        """The spaces this agent has mounted."""
        return await self.api.mounts(self.id)

    def space(self, name: str) -> AsyncMountedSpace:
        """A handle acting as this agent on a space it mounted earlier (no I/O)."""
        return AsyncMountedSpace(self.api, name, agent=self.id, mode=None)

    def __repr__(self) -> str:
        return f"<AsyncAgent {self.id!r}>"
