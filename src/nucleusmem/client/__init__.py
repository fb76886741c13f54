"""The SDK: one client for embedded and remote NucleusMem, async and sync.

`open_async(url)` gives an `AsyncClient`, `open(url)` its sync twin `Client`. Both are
written once on top of `SpaceAPI`, so a ``sqlite://`` file and an ``http://`` server
behave alike. Handles (`AsyncSpace`, `AsyncAgent`, `AsyncMountedSpace`, and the sync
`Space`, `Agent`, `MountedSpace`) do no I/O when made; `space.at(...)` gives a
read-only view pinned to one revision, `space.listen(agent)` the agent's messages.
"""

from __future__ import annotations

from nucleusmem.client._client import AsyncAgent, AsyncClient
from nucleusmem.client._convert import AtLike, ModeLike, Moment, RegionLike, SpaceKindLike
from nucleusmem.client._listen import AsyncListener
from nucleusmem.client._open import DEFAULT_PRINCIPAL, AsyncClientOpener, open, open_async
from nucleusmem.client._space import AsyncMountedSpace, AsyncSpace, AsyncSpaceBase
from nucleusmem.client._sync import Agent, Client
from nucleusmem.client._sync_space import MountedSpace, Space, SpaceBase
from nucleusmem.client._sync_view import Listener, SpaceView
from nucleusmem.client._view import AsyncSpaceView

__all__ = [
    "DEFAULT_PRINCIPAL",
    "Agent",
    "AsyncAgent",
    "AsyncClient",
    "AsyncClientOpener",
    "AsyncListener",
    "AsyncMountedSpace",
    "AsyncSpace",
    "AsyncSpaceBase",
    "AsyncSpaceView",
    "AtLike",
    "Client",
    "Listener",
    "ModeLike",
    "Moment",
    "MountedSpace",
    "RegionLike",
    "Space",
    "SpaceBase",
    "SpaceKindLike",
    "SpaceView",
    "open",
    "open_async",
]
