"""The watcher: one KV watch per node on the comm prefix, fanned out to subscribers.

A subscriber registers the channels it follows (``@agent``, ``#topic`` of one space)
and gets each new comm record as a small in-memory delivery. Queues are bounded: a
subscriber that falls ``max_pending`` behind is marked *lagged* and its deliveries are
dropped, so it never blocks the others; it catches up from the store, where every
message is kept. If the KV watch itself ends (a compaction, say), every subscriber is
marked lagged and the watch restarts from now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable

from nucleusmem.errors import NucleusMemError
from nucleusmem.kv import EventType, Store, Watch
from nucleusmem.space._keys import COMM_ROOT, parse_comm_key
from nucleusmem.space._models import CommRecord

__all__ = ["Subscriber", "Watcher"]

_log = logging.getLogger(__name__)

Decoder = Callable[[str, bytes, int], CommRecord]


class Subscriber:
    """One listener's queue of new comm records, in revision order."""

    __slots__ = ("_pending", "_waiter", "channels", "ended", "lagged", "max_pending", "space")

    def __init__(self, space: str, channels: Iterable[str], *, max_pending: int) -> None:
        self.space = space
        self.channels = frozenset(channels)
        self.max_pending = max_pending
        self.lagged = False
        """True once deliveries were dropped: catch up from the store."""
        self.ended = False
        """True once the node is shutting down: the listener should end."""
        self._pending: deque[CommRecord] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, record: CommRecord) -> None:
        """Queue ``record``, or drop it and mark the subscriber lagged when full."""
        if len(self._pending) >= self.max_pending:
            self.lagged = True
        else:
            self._pending.append(record)
        self._wake()

    def mark_lagged(self) -> None:
        """Deliveries were lost upstream: the consumer must catch up from the store."""
        self.lagged = True
        self._wake()

    def end(self) -> None:
        """Tell the listener to end (the node is shutting down)."""
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self, timeout_s: float | None = None) -> CommRecord | None:
        """The next record, or None: on timeout, when lagged, or when ended.

        The flags say which; `clear` resets ``lagged``.
        """
        if not self._pending and not (self.lagged or self.ended):
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = None if timeout_s is None else loop.call_later(timeout_s, self._wake)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        return self._pending.popleft() if self._pending else None

    def clear(self) -> None:
        """Forget queued records (before a catch-up from the store)."""
        self._pending.clear()
        self.lagged = False


class Watcher:
    """Follows ``nm/c/`` on the store and routes comm records to subscribers."""

    def __init__(self, store: Store, decode: Decoder, *, max_pending: int = 1024) -> None:
        self._store = store
        self._decode = decode
        self._max_pending = max_pending
        self._routes: dict[tuple[str, str], set[Subscriber]] = {}
        self._task: asyncio.Task[None] | None = None
        self._started: asyncio.Future[None] | None = None
        self.delivered = 0
        """How many deliveries were made (for metrics)."""
        self.restarts = 0
        """How many times the KV watch had to be restarted."""

    async def start(self) -> None:
        """Start following the store; returns once the KV watch is registered."""
        if self._task is None:
            self._started = asyncio.get_running_loop().create_future()
            self._task = asyncio.get_running_loop().create_task(self._run())
        assert self._started is not None
        await asyncio.shield(self._started)

    async def aclose(self) -> None:
        """Stop following; subscribers are marked lagged so they notice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for subscribers in self._routes.values():
            for sub in subscribers:
                sub.mark_lagged()

    def subscribe(self, space: str, channels: Iterable[str]) -> Subscriber:
        """A new subscriber for ``channels`` of ``space``; remove it with `unsubscribe`."""
        sub = Subscriber(space, channels, max_pending=self._max_pending)
        for channel in sub.channels:
            self._routes.setdefault((space, channel), set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Stop routing to ``sub``."""
        for channel in sub.channels:
            route = self._routes.get((sub.space, channel))
            if route is not None:
                route.discard(sub)
                if not route:
                    del self._routes[(sub.space, channel)]

    def end_all(self) -> None:
        """End every subscriber's listener (at shutdown)."""
        for subscribers in self._routes.values():
            for sub in subscribers:
                sub.end()

    @property
    def subscribers(self) -> int:
        """How many distinct subscribers are registered."""
        return len({id(s) for route in self._routes.values() for s in route})

    async def _run(self) -> None:
        assert self._started is not None
        while True:
            try:
                async with self._store.watch(COMM_ROOT) as watch:
                    if not self._started.done():
                        self._started.set_result(None)
                    await self._pump(watch)
            except asyncio.CancelledError:
                raise
            except NucleusMemError as exc:
                _log.warning("comm watch ended (%s); restarting from now", exc)
            except Exception:  # a bug must not silence every subscriber for good
                _log.exception("comm watch failed; restarting from now")
            if not self._started.done():
                self._started.set_result(None)
            self.restarts += 1
            for subscribers in self._routes.values():
                for sub in subscribers:
                    sub.mark_lagged()
            await asyncio.sleep(0.1)

    async def _pump(self, watch: Watch) -> None:
        async for event in watch:
            if event.type is not EventType.PUT:
                continue
            where = parse_comm_key(event.key)
            if where is None:
                continue
            subscribers = self._routes.get(where)
            if not subscribers:
                continue
            try:
                record = self._decode(where[0], event.value, event.revision)
            except ValueError:
                _log.warning("skipping an unreadable comm record %r", event.key)
                continue
            for sub in tuple(subscribers):
                sub.offer(record)
            self.delivered += len(subscribers)
