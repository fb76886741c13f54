"""A small HTTP/1.1 client for the benchmarks, and the event-stream receiver process.

Raw asyncio streams and no library: a benchmark process holds hundreds of event
streams, and the client's own CPU must stay small next to the server's on a machine
with two cores. It speaks just enough HTTP for the NucleusMem API: keep-alive
requests with a JSON body, answers with ``Content-Length`` or chunked bodies, and
server-sent events (only ``id:`` and the event type are parsed; the data is not).

Run as a script it is a *receiver*: ``python bench/_sse_client.py '<config JSON>'``
with ``{"host", "port", "token", "space"}``. It reads one JSON command per line on
stdin and answers each with one JSON line on stdout (``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``); its first line, ``{"ok": true, "ready": true}``,
says it started. Commands:

- ``{"cmd": "subscribe", "agents": [...], "topics": [...]}``: set the topics each
  agent follows (``PUT .../agents/{agent}/topics``).
- ``{"cmd": "connect", "agents": [...], "last_event_id": R}``: open one event stream
  per agent, resuming after revision ``R``; answers once every stream sent its first
  bytes, with ``"connected"``.
- ``{"cmd": "collect", "expect": [revision, ...], "timeout_s": T}``: wait up to ``T``
  seconds until every open stream received every expected revision, then answer
  ``"received"``: ``{revision: [receipt time in perf_counter_ns, one per stream that
  got it]}`` and forget what was received so far.
- ``{"cmd": "close"}``: close the streams; ``{"cmd": "quit"}``: exit.

Receipt times are ``time.perf_counter_ns()``, which on Linux is ``CLOCK_MONOTONIC``:
one clock for the whole machine, so the parent subtracts its own send times from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EventStream",
    "HttpConnection",
    "HttpError",
    "Receipts",
    "Receiver",
    "Response",
    "command_loop",
    "main",
]

_MAX_LINE = 1 << 16


class HttpError(Exception):
    """An answer other than the expected status, or a broken HTTP exchange."""

    def __init__(self, status: int, body: bytes, what: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {body[:300]!r}")
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class Response:
    """A complete answer: its status and body bytes."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
    """The status and the (lower-cased) headers of an answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[bytes, bytes]) -> bytes:
    """A whole body, by ``Content-Length`` or chunk by chunk."""
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts: list[bytes] = []
        while (chunk := await _read_chunk(reader)) is not None:
            parts.append(chunk)
        await reader.readuntil(b"\r\n")  # the empty trailer
        return b"".join(parts)
    return await reader.readexactly(int(headers.get(b"content-length", b"0")))


async def _read_chunk(reader: asyncio.StreamReader) -> bytes | None:
    """The next chunk of a chunked body; None after the last one."""
    size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";", 1)[0], 16)
    if size == 0:
        return None
    data = await reader.readexactly(size + 2)
    return data[:-2]


def _request_bytes(
    method: str, path: str, host: str, token: str | None, headers: dict[str, str], body: bytes
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if body or method in ("POST", "PUT"):
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class HttpConnection:
    """One keep-alive connection; `request` sends a request and reads its whole answer.

    Requests on one connection go one at a time (callers do not overlap them).
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._host = host

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        """Connect to ``host``:``port``."""
        reader, writer = await asyncio.open_connection(host, port, limit=_MAX_LINE)
        return cls(reader, writer, f"{host}:{port}")

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send one request and read its answer."""
        self._writer.write(_request_bytes(method, path, self._host, token, headers or {}, body))
        status, answer_headers = await _read_head(self._reader)
        return Response(status, await _read_body(self._reader, answer_headers))

    async def call(
        self, method: str, path: str, value: Any = None, *, token: str | None, expect: int = 200
    ) -> Any:
        """A JSON request; its JSON answer, or `HttpError` unless the status is ``expect``."""
        body = b"" if value is None else json.dumps(value).encode()
        response = await self.request(method, path, body=body, token=token)
        if response.status != expect:
            raise HttpError(response.status, response.body, f"{method} {path}")
        return response.json() if response.body else None

    async def aclose(self) -> None:
        """Close the connection."""
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


class EventStream:
    """One open ``text/event-stream``; iterate `events` for ``(id, type)`` pairs.

    `open` returns once the server sent the stream's first bytes (its ``retry`` and
    ``: connected`` preamble), so the request is accepted and the response started.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._buffer = b""

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        path: str,
        *,
        token: str,
        last_event_id: int | None = None,
    ) -> EventStream:
        """Send ``GET path`` and wait for the stream's first bytes."""
        reader, writer = await asyncio.open_connection(host, port, limit=_MAX_LINE)
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        writer.write(_request_bytes("GET", path, f"{host}:{port}", token, headers, b""))
        status, answer_headers = await _read_head(reader)
        if status != 200:
            body = await _read_body(reader, answer_headers)
            writer.close()
            raise HttpError(status, body, f"GET {path}")
        if answer_headers.get(b"transfer-encoding", b"").lower() != b"chunked":
            writer.close()
            raise HttpError(status, b"", f"GET {path}: the event stream is not chunked")
        stream = cls(reader, writer)
        first = await _read_chunk(reader)
        if first is None:
            raise HttpError(status, b"", f"GET {path}: the event stream ended at once")
        stream._buffer = first
        return stream

    async def events(self) -> AsyncIterator[tuple[int | None, bytes]]:
        """``(id, event type)`` of each event, as it arrives; comments are skipped."""
        while True:
            while (end := self._buffer.find(b"\n\n")) < 0:
                chunk = await _read_chunk(self._reader)
                if chunk is None:
                    return
                self._buffer += chunk
            block, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
            event_id: int | None = None
            kind = b""
            for line in block.split(b"\n"):
                if line.startswith(b"id:"):
                    event_id = int(line[3:])
                elif line.startswith(b"event:"):
                    kind = line[6:].strip()
            if kind:
                yield event_id, kind

    def close(self) -> None:
        """Drop the connection (the server sees the client go away)."""
        self._writer.close()


# -- the receiver process --------------------------------------------------------------

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


async def command_loop(handlers: dict[str, Handler]) -> None:
    """Answer JSON commands from stdin with JSON lines on stdout until ``quit`` or EOF."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    _answer({"ok": True, "ready": True})
    while line := await reader.readline():
        command = json.loads(line)
        name = command.get("cmd")
        if name == "quit":
            _answer({"ok": True})
            return
        try:
            handler = handlers[name]
            _answer({"ok": True, **await handler(command)})
        except Exception as exc:
            _answer({"ok": False, "error": f"{type(exc).__name__}: {exc}"})


def _answer(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


class Receipts:
    """Receipt times per event id, and waiting until the expected ones have arrived."""

    def __init__(self) -> None:
        self.times: defaultdict[int, list[int]] = defaultdict(list)
        self.failures: list[str] = []

    def add(self, event_id: int, now_ns: int) -> None:
        """Note that event ``event_id`` arrived (once more) at ``now_ns``."""
        self.times[event_id].append(now_ns)

    async def collect(self, command: dict[str, Any], *, copies: int) -> dict[str, Any]:
        """Wait until each expected id arrived ``copies`` times (or time is up).

        Answers everything received so far (``received``, ``failures``) and forgets it.
        """
        expect = [int(r) for r in command["expect"]]
        deadline = time.monotonic() + float(command.get("timeout_s", 10.0))
        while time.monotonic() < deadline:
            if all(len(self.times.get(r, ())) >= copies for r in expect):
                break
            await asyncio.sleep(0.02)
        times, self.times = self.times, defaultdict(list)
        failures, self.failures = self.failures, []
        return {"received": {str(r): t for r, t in times.items()}, "failures": failures}


class Receiver:
    """The receiver's state: its event streams and the receipt times per revision."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.host: str = config["host"]
        self.port: int = config["port"]
        self.token: str = config["token"]
        self.space: str = config["space"]
        self.streams: list[EventStream] = []
        self.readers: list[asyncio.Task[None]] = []
        self.receipts = Receipts()

    async def subscribe(self, command: dict[str, Any]) -> dict[str, Any]:
        """Set the topics of each agent, over a few connections."""
        agents: list[str] = command["agents"]
        body = {"topics": command["topics"]}
        todo = iter(agents)

        async def worker() -> None:
            connection = await HttpConnection.open(self.host, self.port)
            try:
                for agent in todo:
                    path = f"/v1/spaces/{self.space}/agents/{agent}/topics"
                    await connection.call("PUT", path, body, token=self.token)
            finally:
                await connection.aclose()

        await asyncio.gather(*(worker() for _ in range(min(4, len(agents)))))
        return {"subscribed": len(agents)}

    async def connect(self, command: dict[str, Any]) -> dict[str, Any]:
        """Open one stream per agent (a few dozen at a time) and start reading them."""
        gate = asyncio.Semaphore(32)

        async def open_one(agent: str) -> None:
            path = f"/v1/spaces/{self.space}/agents/{agent}/stream"
            async with gate:
                stream = await EventStream.open(
                    self.host,
                    self.port,
                    path,
                    token=self.token,
                    last_event_id=command.get("last_event_id"),
                )
            self.streams.append(stream)
            self.readers.append(asyncio.create_task(self._read(stream)))

        await asyncio.gather(*(open_one(agent) for agent in command["agents"]))
        return {"connected": len(self.streams)}

    async def _read(self, stream: EventStream) -> None:
        receipts = self.receipts
        try:
            async for event_id, kind in stream.events():
                now = time.perf_counter_ns()
                if kind == b"message" and event_id is not None:
                    receipts.add(event_id, now)
                elif kind == b"error":
                    receipts.failures.append("an error event")
            receipts.failures.append("a stream ended")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            receipts.failures.append(f"a stream broke: {exc!r}")

    async def collect(self, command: dict[str, Any]) -> dict[str, Any]:
        """Wait until every stream got every expected revision (or time is up)."""
        return await self.receipts.collect(command, copies=len(self.streams))

    async def close(self, command: dict[str, Any]) -> dict[str, Any]:
        """Close every stream."""
        for task in self.readers:
            task.cancel()
        for stream in self.streams:
            stream.close()
        await asyncio.gather(*self.readers, return_exceptions=True)
        closed = len(self.streams)
        self.streams, self.readers = [], []
        return {"closed": closed}


async def _receive(config: dict[str, Any]) -> None:
    receiver = Receiver(config)
    try:
        await command_loop(
            {
                "subscribe": receiver.subscribe,
                "connect": receiver.connect,
                "collect": receiver.collect,
                "close": receiver.close,
            }
        )
    finally:
        await receiver.close({})


def main(argv: list[str] | None = None) -> int:
    """Run the receiver with the JSON config given as the only argument."""
    args = sys.argv[1:] if argv is None else argv
    asyncio.run(_receive(json.loads(args[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
