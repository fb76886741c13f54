"""Server-sent events: an agent's messages as a ``text/event-stream``.

Each `CommRecord` becomes one event::

    id: <revision>
    event: message
    data: <the record as JSON>

A comment line (``: keepalive``) goes out when nothing was sent for ``keepalive_s``,
so proxies keep the connection and a dead peer is noticed. An error after the stream
started ends it with an ``event: error`` whose data is ``{"error", "message"}``.

Per connection the server holds the response, this generator and the listener's
`CommStream` (its small queue in the node's watcher); no task and no thread of its
own. When the client disconnects, Starlette cancels the generator and its ``finally``
unsubscribes the listener (shielded, so the cancellation cannot cut it short).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator, Callable

import anyio
from fastapi.responses import StreamingResponse

from nucleusmem.errors import NucleusMemError
from nucleusmem.space._comm import CommStream
from nucleusmem.space._models import CommRecord

__all__ = ["EventStreamResponse", "StreamRegistry", "comm_events", "encode_event"]

_log = logging.getLogger("nucleusmem.server")

_KEEPALIVE = b": keepalive\n\n"


class EventStreamResponse(StreamingResponse):
    """A streaming response of media type ``text/event-stream``."""

    media_type = "text/event-stream"


class StreamRegistry:
    """The open event streams of one app: counted, and ended together at shutdown.

    The server calls `close_all` when it begins to shut down, so open streams end
    instead of holding the graceful shutdown open forever.
    """

    def __init__(self, on_close: Callable[[], None] | None = None) -> None:
        self.open = 0
        """How many streams are open now."""
        self._on_close = on_close

    def close_all(self) -> None:
        """End every open stream."""
        if self._on_close is not None:
            self._on_close()


@functools.lru_cache(maxsize=4096)
def encode_event(record: CommRecord) -> bytes:
    """One SSE ``message`` event carrying ``record``, its revision as the id."""
    return b"id: %d\nevent: message\ndata: %s\n\n" % (
        record.revision,
        record.model_dump_json().encode(),
    )


def _error_event(exc: BaseException) -> bytes:
    if isinstance(exc, NucleusMemError):
        body = {"error": type(exc).__name__, "message": str(exc)}
    else:
        body = {"error": "NucleusMemError", "message": "internal server error"}
    return b"event: error\ndata: %s\n\n" % json.dumps(body).encode()


async def comm_events(stream: CommStream, *, registry: StreamRegistry) -> AsyncIterator[bytes]:
    """The bytes of an event stream carrying ``stream``'s messages, keepalives between.

    Each record is encoded once however many streams carry it. Ends when the stream
    ends or fails; always closes it.
    """
    registry.open += 1
    try:
        yield b"retry: 1000\n: connected\n\n"
        try:
            async for record in stream:
                yield _KEEPALIVE if record is None else encode_event(record)
        except Exception as exc:
            if not isinstance(exc, NucleusMemError):
                _log.exception("event stream failed")
            yield _error_event(exc)
    finally:
        registry.open -= 1
        with anyio.CancelScope(shield=True):
            await stream.aclose()
