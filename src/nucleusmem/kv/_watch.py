"""Watches: a self-resuming async iterator over a backend's event stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Self

from nucleusmem.errors import StoreUnavailable
from nucleusmem.kv._types import Event, Progress

__all__ = ["ProgressWanted", "Watch", "poll_events"]

StreamItem = Event | Progress | None
"""What a backend stream yields: events, progress markers, None once registered."""
StreamFactory = Callable[[int, "ProgressWanted"], AsyncIterator[StreamItem]]


class ProgressWanted:
    """A watch consumer's request for a `Progress` marker, handed to each stream it opens.

    `Watch.request_progress` sets it. A stream `take`\\ s it just before it learns the
    store's head, then yields a marker at or beyond that head, so one marker answers
    every request made until the take. A stream that sleeps while nothing is
    committed sets ``wake``, which `set` calls, and checks `is_set` when woken.
    """

    __slots__ = ("_set", "wake")

    def __init__(self) -> None:
        self._set = False
        self.wake: Callable[[], None] | None = None
        """Called by `set`: the open stream's way to be woken (None: no stream)."""

    def set(self) -> None:
        """Ask for a marker; wake the stream."""
        self._set = True
        if self.wake is not None:
            self.wake()

    def is_set(self) -> bool:
        """Whether a marker was asked for and no stream has taken the request yet."""
        return self._set

    def take(self) -> bool:
        """Clear the request; whether there was one."""
        was, self._set = self._set, False
        return was


class Watch:
    """Events under a prefix, in revision order; an async iterator and context manager.

    Once started, a background task pumps the backend's stream into a bounded queue of
    ``buffer`` items, so the watch keeps its place (and is not left below a compaction
    floor) while its consumer is busy or the prefix is quiet. When the stream breaks
    (`StoreUnavailable`), it is reopened from the revision after the last event or
    progress marker received, backing off up to ``max_backoff_s``: a dropped connection
    or a failed-over server loses nothing. `Compacted` and other errors reach the
    consumer after the events before them, and end the watch.

    Iterating (or `next`) yields events only. `next_change` also yields `Progress`
    markers: every event up to a marker's revision came before it, even when the
    commits up to there were all outside the prefix. Backends send markers as they
    learn of progress, and soon after `request_progress`.
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
        self._queue: asyncio.Queue[Event | Progress | BaseException] = asyncio.Queue(buffer)
        self._pump: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closed = False
        self._failed: BaseException | None = None
        self._wanted = ProgressWanted()
        self._unanswered = False  # a marker was asked for and has not been queued yet
        self._queued_marker: Progress | None = None  # the last marker queued, until taken
        self.last_revision: int | None = None
        """The revision of the last event delivered (None before the first)."""
        self.progress_revision = 0
        """Every event up to this revision has been delivered (by events and markers
        consumed so far; from the start, the revision before the watch's first)."""
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
            self.progress_revision = max(self.progress_revision, self._next_revision - 1)
            self._pump = asyncio.get_running_loop().create_task(self._run())
            await self._ready.wait()
        return self

    def request_progress(self) -> None:
        """Ask for a `Progress` marker soon; it does not block, and calls coalesce.

        A marker with a revision at or beyond the store's head as of this call follows
        (through `next_change`), after every event up to that revision.
        """
        if not self._closed:
            self._unanswered = True
            self._wanted.set()

    async def _run(self) -> None:
        backoff = 0.05
        while not self._closed:
            assert self._next_revision is not None
            stream = self._open_stream(self._next_revision, self._wanted)
            try:
                async for item in stream:
                    if item is None:  # the backend has registered the watch
                        self._ready.set()
                    elif type(item) is Progress:
                        await self._marker(item.revision)
                    else:
                        await self._queue.put(item)
                        self._next_revision = item.revision + 1
                        backoff = 0.05
            except StoreUnavailable:
                self._ready.set()  # start() returns; the watch keeps trying
                self.resumes += 1
                if self._unanswered:  # the broken stream may have taken the request
                    self._wanted.set()
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

    async def _marker(self, revision: int) -> None:
        """Queue a marker the stream sent, if it tells the consumer something new.

        It is queued if it passes the last item queued, or if it answers a request
        that no marker still in the queue answers. A stream sends markers between
        whole revisions, so it also covers every event queued before it.
        """
        assert self._next_revision is not None
        queued = self._next_revision - 1
        answers = self._unanswered and not self._wanted.is_set()
        if answers:
            self._unanswered = False
        if revision > queued:
            self._next_revision = revision + 1
        elif not answers:
            return
        elif self._queued_marker is not None and self._queued_marker.revision >= queued:
            return  # still queued, it answers the request too
        marker = Progress(max(revision, queued))
        self._queued_marker = marker
        await self._queue.put(marker)

    async def _next_item(self) -> Event | Progress:
        if self._closed:
            raise StopAsyncIteration
        await self.start()
        failed, self._failed = self._failed, None
        return self._take(failed if failed is not None else await self._queue.get())

    def ready_changes(self, limit: int) -> list[Event | Progress]:
        """Up to ``limit`` events and markers already received, without waiting.

        For consumers that take changes in batches: after one `next_change`, this
        collects what else has arrived. An error queued behind them is raised by the
        next call once they are taken.
        """
        taken: list[Event | Progress] = []
        while len(taken) < limit and not self._closed and self._failed is None:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if isinstance(item, BaseException) and taken:
                self._failed = item  # raised by the next call, after these are used
                break
            taken.append(self._take(item))
        return taken

    def _take(self, item: Event | Progress | BaseException) -> Event | Progress:
        if isinstance(item, BaseException):
            self._closed = True
            raise item
        if type(item) is Progress:
            if item is self._queued_marker:
                self._queued_marker = None
        else:
            self.last_revision = item.revision
        if item.revision > self.progress_revision:
            self.progress_revision = item.revision
        return item

    async def __anext__(self) -> Event:
        while True:
            item = await self._next_item()
            if type(item) is Event:
                return item

    async def next(self, timeout_s: float | None = None) -> Event:
        """The next event; `TimeoutError` if none comes within ``timeout_s``."""
        return await asyncio.wait_for(self.__anext__(), timeout_s)

    async def next_change(self, timeout_s: float | None = None) -> Event | Progress:
        """The next event or `Progress` marker; `TimeoutError` after ``timeout_s``."""
        return await asyncio.wait_for(self._next_item(), timeout_s)

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
    wanted: ProgressWanted,
    wake: Callable[[], None],
) -> AsyncIterator[StreamItem]:
    """Stream events by reading batches after a cursor and waiting for new commits.

    Yields None first: a polling stream is registered as soon as it exists. After each
    read that got further, and after each read made for a progress request, yields
    `Progress` for the revision read to.

    ``read_after(cursor)`` returns the events with revision > cursor up to some
    revision it read completely, and that revision (``cursor`` itself when nothing
    new was committed); it raises `Compacted` if the cursor fell below the floor.
    ``wait_beyond(cursor)`` returns once the store's head may have passed ``cursor``,
    or ``wanted`` is set; ``wake`` makes it return early (`wanted` calls it).
    """
    cursor = start_after
    wanted.wake = wake
    try:
        yield None
        while True:
            asked = wanted.take()
            events, read_to = await read_after(cursor)
            for event in events:
                yield event
            if read_to > cursor or asked:
                yield Progress(read_to)
            if read_to <= cursor:
                await wait_beyond(cursor)
            cursor = max(cursor, read_to)
    finally:
        if wanted.wake is wake:
            wanted.wake = None
