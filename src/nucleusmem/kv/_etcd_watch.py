"""etcd watch streams: the pump for their replies, and progress fences.

A progress marker may only follow every event up to its revision. etcd 3.4 answers a
``WatchProgressRequest`` at once with its head, on a path that is not ordered with the
events it has yet to send: etcd 3.4.23 answered ahead of a catching-up watch's whole
replay, and now and then ahead of live events already queued for a watch that was in
step. Such an answer cannot be a marker.

A fence can. Every commit writes the clock key, so a watcher on that key, opened on the
watch's own stream from the clock's last revision, starts behind etcd's head: etcd
serves it in its next pass over the watchers that are catching up (one every 100 ms),
and a stream's responses, the watch's and the fence's, leave in the order they were
queued. When the fence answers:

- if the watch was in step when the fence was opened, its events up to the head as of
  then were queued before the fence's answer;
- if the watch was catching up, etcd caught it up in that same pass (each pass takes
  every watcher that is behind, up to 512), but in an order of its choosing. A second
  fence, opened after the first answered, is served by a later pass; and a second
  answer of the first (the next commit's clock event) is queued after that pass too.

So the first of those two to answer comes after every event of the watch up to the head
read before the fence started. A response holding etcd's maximum number of revisions
may have been cut short, leaving the watch still behind: the fence then starts over.
This holds while at most 512 watchers of the member are behind at once, and while the
stream is not so far behind that etcd's queue for it (1024 responses) is full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

try:
    import grpc  # type: ignore[import-untyped]
    from aetcd import rpc
except ImportError:  # pragma: no cover - exercised only without the extra
    grpc = None
    rpc = None

__all__ = ["WAKE", "WATCH_BATCH_REVISIONS", "Fence", "maybe_cut", "pump_replies", "send"]

WATCH_BATCH_REVISIONS = 1000
"""etcd cuts a response to a catching-up watch after this many revisions."""
WAKE = object()
"""Put among a watch's replies to have its stream look at its progress request."""


class Fence:
    """The fence for one progress request; ``done`` once it has answered in order.

    Then every event of the watch up to ``target`` came before its last answer.
    ``clock_key`` and ``clock_revision`` name the key every commit writes and its
    revision as of ``target``; ``ids`` gives watch ids no other watcher of the stream
    uses. Its methods return the requests to send on the stream.
    """

    def __init__(
        self, target: int, clock_key: bytes, clock_revision: int, ids: Iterator[int]
    ) -> None:
        self.target = target
        self.done = False
        self.lost = False
        self._clock_key = clock_key
        self._clock_revision = clock_revision
        self._ids = ids
        self._first: int | None = None
        self._second: int | None = None
        self._first_answered = False

    def open(self) -> list[Any]:
        """Start (or start over): close the fence's watchers, open a first one."""
        requests = self.close()
        self._first = next(self._ids)
        self._first_answered = False
        requests.append(self._create(self._first))
        return requests

    def owns(self, watch_id: int) -> bool:
        """Whether a reply for ``watch_id`` is the current fence's."""
        return watch_id == self._first or watch_id == self._second

    def answered(self, reply: Any) -> list[Any]:
        """Take a reply of one of the fence's watchers.

        If etcd compacted the clock revision away (or canceled a fence watcher), the
        fence is ``lost``: the stream starts a new one, from a new revision.
        """
        if reply.compact_revision or reply.canceled:
            self.lost = True
            return self.close()
        if not reply.events:
            return []  # created
        if reply.watch_id == self._first and not self._first_answered:
            self._first_answered = True
            self._second = next(self._ids)
            return [self._create(self._second)]
        self.done = True
        return self.close()

    def close(self) -> list[Any]:
        """Cancel the fence's watchers; their late replies are no longer its own."""
        requests = [
            rpc.WatchRequest(cancel_request=rpc.WatchCancelRequest(watch_id=watch_id))
            for watch_id in (self._first, self._second)
            if watch_id is not None
        ]
        self._first = self._second = None
        return requests

    def _create(self, watch_id: int) -> Any:
        create = rpc.WatchCreateRequest(
            key=self._clock_key, start_revision=self._clock_revision, watch_id=watch_id
        )
        return rpc.WatchRequest(create_request=create)


def maybe_cut(events: Any) -> bool:
    """Whether a watch response may have been cut at etcd's revisions per response."""
    if len(events) < WATCH_BATCH_REVISIONS:
        return False
    return len({event.kv.mod_revision for event in events}) >= WATCH_BATCH_REVISIONS


def send(requests: asyncio.Queue[Any], batch: list[Any]) -> None:
    """Queue ``batch`` on a stream's requests."""
    for request in batch:
        requests.put_nowait(request)


async def pump_replies(call: Any, replies: asyncio.Queue[Any]) -> None:
    """Move a stream's replies into a bounded queue; its end or error goes in last."""
    try:
        async for reply in call:
            await replies.put(reply)
        await replies.put(ConnectionError("the etcd watch stream ended"))
    except grpc.aio.AioRpcError as exc:
        await replies.put(exc)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is None or task.cancelling():
            raise  # the stream is done with its replies
        # the call was cancelled under the pump: its channel was closed
        await replies.put(ConnectionError("the etcd channel was closed"))
