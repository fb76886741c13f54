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

StreamFactory = Callable[[int], AsyncIterator[Event | None]]


class Watch:
    """Events under a prefix, in revision order; an async iterator and context manager.

    Once started, a background task pumps the backend's stream into a bounded queue of
    ``buffer`` events, so the watch keeps its place (and is not left below a compaction
    floor) while its consumer is busy or the prefix is quiet. When the stream breaks
    (`StoreUnavailable`), it is reopened from the revision after the last event
    received, backing off up to ``max_backoff_s``: a dropped connection or a failed-over
    server loses nothing. `Compacted` and other errors reach the consumer after the
    events before them, and end the watch.
    """

    def __init__(
        self,
        open_stream: StreamFactory,
        start_revision: int | None,
        *,
        head: Callable[[], Awaitable[int]],
        buffer: int = 1024,
        max_backoff_s: float = 1.0,
    ) -> None:
        self._open_stream = open_stream
        self._head = head
        self._next_revision = start_revision
        self._max_backoff_s = max_backoff_s
        self._queue: asyncio.Queue[Event | BaseException] = asyncio.Queue(buffer)
        self._pump: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closed = False
        self.last_revision: int | None = None
        """The revision of the last event delivered (None before the first)."""
        self.resumes = 0
        """How many times the stream was reopened after a break."""

    def __aiter__(self) -> Self:
        return self

    async def start(self) -> Self:
        """Pin the start and open the stream: every commit after this returns is seen.

        Returns once the backend has registered the watch (so later commits arrive
        live), or has failed to. Entering ``async with`` calls it; else the first
        ``next`` does.
        """
        if self._next_revision is None:
            self._next_revision = await self._head() + 1
        if self._pump is None and not self._closed:
            self._pump = asyncio.get_running_loop().create_task(self._run())
            await self._ready.wait()
        return self

    async def _run(self) -> None:
        backoff = 0.05
        while not self._closed:
            assert self._next_revision is not None
            stream = self._open_stream(self._next_revision)
            try:
                async for event in stream:
                    if event is None:  # the backend has registered the watch
                        self._ready.set()
                        continue
                    await self._queue.put(event)
                    self._next_revision = event.revision + 1
                    backoff = 0.05
            except StoreUnavailable:
                self._ready.set()  # start() returns; the watch keeps trying
                self.resumes += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
            except Exception as exc:  # Compacted and the like end the watch
                self._ready.set()
                await self._queue.put(exc)
                return
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()

    async def __anext__(self) -> Event:
        if self._closed:
            raise StopAsyncIteration
        await self.start()
        item = await self._queue.get()
        if isinstance(item, BaseException):
            self._closed = True
            raise item
        self.last_revision = item.revision
        return item

    async def next(self, timeout_s: float | None = None) -> Event:
        """The next event; `TimeoutError` if none comes within ``timeout_s``."""
        return await asyncio.wait_for(self.__anext__(), timeout_s)

    async def aclose(self) -> None:
        """Stop watching and release the stream."""
        self._closed = True
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

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
) -> AsyncIterator[Event | None]:
    """Stream events by reading batches after a cursor and waiting for new commits.

    Yields None first: a polling stream is registered as soon as it exists.

    ``read_after(cursor)`` returns the events with revision > cursor up to some
    revision it read completely, and that revision (``cursor`` itself when nothing
    new was committed); it raises `Compacted` if the cursor fell below the floor.
    ``wait_beyond(cursor)`` returns once the store's head may have passed ``cursor``.
    """
    cursor = start_after
    yield None
    while True:
        events, read_to = await read_after(cursor)
        for event in events:
            yield event
        if read_to <= cursor:
            await wait_beyond(cursor)
        cursor = max(cursor, read_to)
