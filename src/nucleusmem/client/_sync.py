"""`Client` and `Agent`: the sync twins of `AsyncClient` and `AsyncAgent`.

A `Client` owns a `Portal` (a private event loop on a daemon thread) and runs each call
of its `AsyncClient` there, so the SDK is written once. Open one with
`nucleusmem.open(url)`:

```python
with nucleusmem.open("sqlite:///data/nm.db") as client:
    client.create_space("team")
    team = client.space("team")
    team.put("plan", "ship it", agent="ada")
    for message in team.listen("bob", auto_ack=True):
        print(team.get(message.ref_key).content)
```
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from types import TracebackType
from typing import Self

from nucleusmem.client._client import AsyncAgent, AsyncClient
from nucleusmem.client._convert import ModeLike, SpaceKindLike
from nucleusmem.client._portal import Portal
from nucleusmem.client._sync_space import MountedSpace, Space
from nucleusmem.space._models import Mount, PrincipalInfo, SpaceInfo

__all__ = ["Agent", "Client"]


class Client:
    """The calls of one principal, sync; every call runs `AsyncClient` on the portal.

    ``portal`` is the loop ``client`` lives on; the client closes it on `close`.
    """

    def __init__(self, client: AsyncClient, *, portal: Portal) -> None:
        self.client = client
        """The async twin every call is forwarded to."""
        self._portal = portal

    def whoami(self) -> PrincipalInfo:
        """The principal this client acts as."""
        return self._portal.run(self.client.whoami())

    def create_principal(self, name: str, *, admin: bool = False) -> str:
        """Create a principal and return its first bearer token (admin only)."""
        return self._portal.run(self.client.create_principal(name, admin=admin))

    def issue_token(self, name: str) -> str:
        """A new bearer token for an existing principal (admin only)."""
        return self._portal.run(self.client.issue_token(name))

    def create_space(
        self,
        name: str,
        *,
        kind: SpaceKindLike = "shared",
        members: Mapping[str, ModeLike] | None = None,
        quota_bytes: int | None = None,
        history_retention_s: float | None = None,
        description: str = "",
    ) -> SpaceInfo:
        """Create a space owned by this principal; see `AsyncClient.create_space`."""
        return self._portal.run(
            self.client.create_space(
                name,
                kind=kind,
                members=members,
                quota_bytes=quota_bytes,
                history_retention_s=history_retention_s,
                description=description,
            )
        )

    def spaces(self) -> builtins.list[SpaceInfo]:
        """The spaces this principal owns or is a member of, by name."""
        return self._portal.run(self.client.spaces())

    def delete_space(self, name: str) -> None:
        """Delete a space and everything in it (owner only)."""
        self._portal.run(self.client.delete_space(name))

    def space(self, name: str) -> Space:
        """A handle on a space (no I/O; a missing space raises `NotFound` when used)."""
        return Space(self.client.space(name), portal=self._portal)

    def agent(self, agent_id: str) -> Agent:
        """A handle on an agent, to mount spaces as it (no I/O)."""
        return Agent(self.client.agent(agent_id), portal=self._portal)

    @property
    def closed(self) -> bool:
        """Whether `close` has been called."""
        return self.client.closed

    def close(self) -> None:
        """Close the client and what was opened for it, then stop the portal's loop."""
        try:
            if not self.client.closed:
                self._portal.run(self.client.aclose())
        finally:
            self._portal.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {type(self.client.api).__name__}{' closed' if self.closed else ''}>"


class Agent:
    """An agent id and the spaces it mounts; the twin of `AsyncAgent`."""

    def __init__(self, agent: AsyncAgent, *, portal: Portal) -> None:
        self.agent = agent
        """The async twin every call is forwarded to."""
        self.id = agent.id
        """The agent's id."""
        self._portal = portal

    def mount(self, space: str, mode: ModeLike = "rw") -> MountedSpace:
        """Mount ``space`` for this agent, and return a handle that acts as it."""
        return MountedSpace(self._portal.run(self.agent.mount(space, mode)), portal=self._portal)

    def unmount(self, space: str) -> None:
        """Unmount ``space`` from this agent."""
        self._portal.run(self.agent.unmount(space))

    def mounts(self) -> list[Mount]:
        """The spaces this agent has mounted."""
        return self._portal.run(self.agent.mounts())

    def space(self, name: str) -> MountedSpace:
        """A handle acting as this agent on a space it mounted earlier (no I/O)."""
        return MountedSpace(self.agent.space(name), portal=self._portal)

    def __repr__(self) -> str:
        return f"<Agent {self.id!r}>"
