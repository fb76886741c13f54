"""Sync twins of `AsyncSpaceView` and `AsyncListener`: `SpaceView` and `Listener`.

Each method forwards to the async twin on the client's `Portal`; no logic lives here.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from types import TracebackType
from typing import Self

from nucleusmem.client._convert import AtLike, Moment, RegionLike
from nucleusmem.client._listen import AsyncListener
from nucleusmem.client._portal import Portal
from nucleusmem.client._view import AsyncSpaceView
from nucleusmem.space._api import RecordPage
from nucleusmem.space._models import AgentEntry, Change, CommRecord, Record

__all__ = ["Listener", "SpaceView"]


class SpaceView:
    """A read-only view of a space pinned to one revision; the twin of `AsyncSpaceView`."""

    def __init__(self, view: AsyncSpaceView, *, portal: Portal) -> None:
        self.view = view
        """The async twin every call is forwarded to."""
        self._portal = portal

    def revision(self) -> int:
        """The revision this view reads at (resolving a datetime the first time)."""
        return self._portal.run(self.view.revision())

    def get(self, key: str, *, region: RegionLike = "memory") -> Record:
        """One record as it was; `NotFound` if it did not exist then."""
        return self._portal.run(self.view.get(key, region=region))

    def list(
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
        """One page of the records as they were, in key order."""
        return self._portal.run(
            self.view.list(
                region=region,
                prefix=prefix,
                agent=agent,
                kind=kind,
                thread=thread,
                since=since,
                until=until,
                after=after,
                limit=limit,
            )
        )

    def iter(
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
    ) -> Iterator[Record]:
        """Every matching record as it was, page by page, in key order."""
        return self._portal.iterate(
            self.view.iter(
                region=region,
                prefix=prefix,
                agent=agent,
                kind=kind,
                thread=thread,
                since=since,
                until=until,
                page_size=page_size,
            )
        )

    def agents(self) -> builtins.list[AgentEntry]:
        """The space's agent registry as it was."""
        return self._portal.run(self.view.agents())

    def diff(
        self, from_at: AtLike, to_at: AtLike = None, *, region: RegionLike | None = None
    ) -> builtins.list[Change]:
        """The records that differ between ``from_at`` and ``to_at`` (default: this view)."""
        return self._portal.run(self.view.diff(from_at, to_at, region=region))

    def __repr__(self) -> str:
        return f"<SpaceView {self.view.space.name!r} at {self.view.at!r}>"


class Listener:
    """An agent's messages as a plain iterator; the twin of `AsyncListener`."""

    def __init__(self, listener: AsyncListener, *, portal: Portal) -> None:
        self.listener = listener
        """The async twin every call is forwarded to."""
        self._portal = portal

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> CommRecord:
        return self._portal.next(self.listener)

    def close(self) -> None:
        """Stop listening; with ``auto_ack``, acknowledge the last message delivered."""
        self._portal.run(self.listener.aclose())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._portal.run(self.listener.__aexit__(exc_type, exc, tb))

    def __repr__(self) -> str:
        return f"<Listener {self.listener.agent!r} in {self.listener.space!r}>"
