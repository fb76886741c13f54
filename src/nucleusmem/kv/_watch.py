"""Watches: a self-resuming async iterator over a backend's event stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Self

from nucleusmem.errors import StoreUnavailable
from nucleusmem.kv._types import Event

__all__ = ["Watch", "poll_events"]

StreamFactory = Callable[[int], AsyncIterator[Event]]


class Watch:
    """Events under a prefix, in revision order; an async iterator and context manager.

    When the underlying stream breaks (`StoreUnavailable`), the watch reopens it from
    the revision after the last one delivered, backing off up to ``max_backoff_s``,
    so a dropped connection or a failed-over server loses nothing. `Compacted` and
    other errors end the iteration and reach the consumer.
    """

    def __init__(
        self,
        open_stream: StreamFactory,
        start_revision: int | None,
        *,
        head: Callable[[], Awaitable[int]],
        max_backoff_s: float = 1.0,
    ) -> None:
        self._open_stream = open_stream
        self._head = head
        self._next_revision = start_revision
        self._max_backoff_s = max_backoff_s
        self._stream: AsyncIterator[Event] | None = None
        self._closed = False
        self.last_revision: int | None = None
        """The revision of the last event delivered (None before the first)."""
        self.resumes = 0
        """How many times the stream was reopened after a break."""

    def __aiter__(self) -> Self:
        return self

    async def start(self) -> Self:
        """Pin the start: a watch "from now" sees every commit after this returns.

        Entering ``async with`` calls it; otherwise the first ``next`` does.
        """
        if self._next_revision is None:
            self._next_revision = await self._head() + 1
        if self._stream is None and not self._closed:
            self._stream = self._open_stream(self._next_revision)
        return self

    async def __anext__(self) -> Event:
        backoff = 0.05
        while not self._closed:
            if self._stream is None:
                await self.start()
                assert self._stream is not None
            try:
                event = await self._stream.__anext__()
            except StopAsyncIteration:
                await self._drop_stream()
                continue
            except StoreUnavailable:
                await self._drop_stream()
                self.resumes += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            self.last_revision = event.revision
            self._next_revision = event.revision + 1
            return event
        raise StopAsyncIteration

    async def next(self, timeout_s: float | None = None) -> Event:
        """The next event; `TimeoutError` if none comes within ``timeout_s``."""
        return await asyncio.wait_for(self.__anext__(), timeout_s)

    async def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()

    async def aclose(self) -> None:
        """Stop watching and release the stream."""
        self._closed = True
        await self._drop_stream()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def poll_events(
    read_after: Callable[[int], Awaitable[tuple[list[Event], int]]],
    wait_beyond: Callable[[int], Awaitable[None]],
    start_after: int,
) -> AsyncIterator[Event]:
    """Stream events by reading batches after a cursor and waiting for new commits.

    ``read_after(cursor)`` returns the events with revision > cursor up to some
    revision it read completely, and that revision (``cursor`` itself when nothing
    new was committed); it raises `Compacted` if the cursor fell below the floor.
    ``wait_beyond(cursor)`` returns once the store's head may have passed ``cursor``.
    """
    cursor = start_after
    while True:
        events, read_to = await read_after(cursor)
        for event in events:
            yield event
        if read_to <= cursor:
            await wait_beyond(cursor)
        cursor = max(cursor, read_to)
