"""Server-sent events: an agent's messages as a ``text/event-stream``.

Each `CommRecord` becomes one event::

    id: <revision>
    event: message
    data: <the record as JSON>

A comment line (``: keepalive``) goes out when nothing was sent for ``keepalive_s``,
so proxies keep the connection and a dead peer is noticed. An error after the stream
started ends it with an ``event: error`` whose data is ``{"error", "message"}``.

Per connection the server holds the response, this generator and at most one pending
``__anext__`` task on the session's listener; no thread and no buffer beyond the
listener's own. When the client disconnects, Starlette cancels the generator and its
``finally`` closes the listener (shielded, so the cancellation cannot cut it short).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import anyio
from fastapi.responses import StreamingResponse

from nucleusmem.errors import NucleusMemError
from nucleusmem.space._models import CommRecord

__all__ = ["EventStreamResponse", "StreamRegistry", "comm_events", "encode_event"]

_log = logging.getLogger("nucleusmem.server")

_CLOSE_TIMEOUT_S = 5.0


class EventStreamResponse(StreamingResponse):
    """A streaming response of media type ``text/event-stream``."""

    media_type = "text/event-stream"


class StreamRegistry:
    """The open event streams of one app: counted, and ended together at shutdown.

    The server calls `close_all` when it begins to shut down, so open streams end
    instead of holding the graceful shutdown open forever.
    """

    def __init__(self) -> None:
        self.open = 0
        """How many streams are open now."""
        self._closing: asyncio.Future[None] | None = None

    def closing(self) -> asyncio.Future[None]:
        """A future that completes when the streams must end (one for all streams)."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_future()
        return self._closing

    def close_all(self) -> None:
        """End every open stream (and every stream opened from now on)."""
        future = self.closing()
        if not future.done():
            future.set_result(None)


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


async def comm_events(
    messages: AsyncIterator[CommRecord],
    *,
    keepalive_s: float,
    registry: StreamRegistry,
) -> AsyncIterator[bytes]:
    """The bytes of an event stream carrying ``messages``, with keepalives between.

    Ends when ``messages`` ends or fails, or when ``registry`` closes all streams;
    always closes ``messages``.
    """
    closing = registry.closing()
    pending: asyncio.Future[CommRecord] | None = None
    registry.open += 1
    try:
        yield b"retry: 1000\n: connected\n\n"
        while not closing.done():
            if pending is None:
                pending = asyncio.ensure_future(anext(messages))
            done, _ = await asyncio.wait(
                (pending, closing), timeout=keepalive_s, return_when=asyncio.FIRST_COMPLETED
            )
            if pending not in done:
                if not closing.done():
                    yield b": keepalive\n\n"
                continue
            finished, pending = pending, None
            try:
                record = finished.result()
            except StopAsyncIteration:
                return
            except Exception as exc:
                if not isinstance(exc, NucleusMemError):
                    _log.exception("event stream failed")
                yield _error_event(exc)
                return
            yield encode_event(record)
    finally:
        registry.open -= 1
        with anyio.move_on_after(_CLOSE_TIMEOUT_S, shield=True):
            await _close(pending, messages)


async def _close(pending: asyncio.Future[CommRecord] | None, messages: object) -> None:
    if pending is not None:
        pending.cancel()
        await asyncio.wait((pending,))
        if not pending.cancelled() and pending.exception() is not None:
            _log.debug("listener failed while closing", exc_info=pending.exception())
    aclose = getattr(messages, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            _log.exception("closing a listener failed")
