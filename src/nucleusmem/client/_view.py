"""`AsyncSpaceView`: a read-only view of a space pinned to one revision (time travel)."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from nucleusmem.client._convert import AtLike, Moment, RegionLike
from nucleusmem.space._api import RecordPage
from nucleusmem.space._models import AgentEntry, Change, Record

if TYPE_CHECKING:
    from nucleusmem.client._space import AsyncSpaceBase

__all__ = ["AsyncSpaceView"]


class AsyncSpaceView:
    """A space as it was at one revision: the read calls of a space, nothing else.

    Made by ``space.at(revision_or_datetime)``. A datetime is resolved to the revision
    that was current then on first use, once, so every read of the view sees the same
    revision. Creating a view does no I/O.
    """

    def __init__(self, space: AsyncSpaceBase, at: int | dt.datetime) -> None:
        self.space = space
        """The space handle this view reads through."""
        self.at = at
        """The point in history the view was made for, as given."""
        self._revision = at if isinstance(at, int) else None

    async def revision(self) -> int:
        """The revision this view reads at (resolving a datetime the first time)."""
        if self._revision is None:
            self._revision = await self.space.revision(self.at)
        return self._revision

    async def get(self, key: str, *, region: RegionLike = "memory") -> Record:
        """One record as it was; `NotFound` if it did not exist then."""
        return await self.space.get(key, region=region, at=await self.revision())

    async def list(
        self,
        *,
        region: RegionLike = "memory",
        prefix: str = "",
        agent: str | None = None,
        kind: str | None = None,
        thread: str | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> RecordPage:
        """One page of the records as they were, in key order; see `AsyncSpace.list`."""
        return await self.space.list(
            region=region,
            prefix=prefix,
            agent=agent,
            kind=kind,
            thread=thread,
            since=since,
            until=until,
            at=await self.revision(),
            after=after,
            limit=limit,
        )

    async def iter(
        self,
        *,
        region: RegionLike = "memory",
        prefix: str = "",
        agent: str | None = None,
        kind: str | None = None,
        thread: str | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[Record]:
        """Every matching record as it was, page by page, in key order."""
        async for record in self.space.iter(
            region=region,
            prefix=prefix,
            agent=agent,
            kind=kind,
            thread=thread,
            since=since,
            until=until,
            at=await self.revision(),
            page_size=page_size,
        ):
            yield record

    async def agents(self) -> builtins.list[AgentEntry]:
        """The space's agent registry as it was."""
        return await self.space.agents(at=await self.revision())

    async def diff(
        self, from_at: AtLike, to_at: AtLike = None, *, region: RegionLike | None = None
    ) -> builtins.list[Change]:
        """The records that differ between ``from_at`` and ``to_at`` (default: this view)."""
        end = await self.revision() if to_at is None else to_at
        return await self.space.diff(from_at, end, region=region)

    def __repr__(self) -> str:
        return f"<AsyncSpaceView {self.space.name!r} at {self.at!r}>"
