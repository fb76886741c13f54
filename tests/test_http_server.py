"""The HTTP server itself: auth, limits, validation, ``at``, SSE and resume, health.

What every call does is covered by the API suite (through both embedded and remote
sessions); this file covers what only the server has. Event streams and resumption run
against a real uvicorn on a loopback port; pure routing checks use `httpx.ASGITransport`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from nucleusmem.client._http import HttpSession
from nucleusmem.errors import AccessDenied, NotFound, StoreUnavailable, Unauthenticated
from nucleusmem.kv import MemoryStore, open_store
from nucleusmem.server import AppServer, create_app
from nucleusmem.server._run import bind
from nucleusmem.space import CommRecord, DataRegion, MemSpaceService, RecordWrite

ADMIN_TOKEN = "nm_test-admin-token"
MEMORY = DataRegion.MEMORY


class ServerThread:
    """A real server on loopback, in a thread with its own event loop and a SQLite store.

    ``restart`` brings it back on the same port over the same file, as after a crash.
    """

    def __init__(self, db: Path, **app_options: Any) -> None:
        self.db = db
        self.app_options = app_options
        self.port = 0
        self.app: FastAPI | None = None
        self._server: AppServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        """Start serving; returns once the server accepts connections."""
        started = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            async with (
                open_store(f"sqlite://{self.db}") as store,
                MemSpaceService(store) as service,
            ):
                await service.bootstrap_admin(ADMIN_TOKEN)
                self.app = create_app(service, **self.app_options)
                self._server = AppServer(self.app, graceful_shutdown_s=2)
                self._loop = asyncio.get_running_loop()
                sock = bind("127.0.0.1", self.port)

                def ready(port: int) -> None:
                    self.port = port
                    started.set()

                await self._server.serve_on(sock, ready=ready)

        def run() -> None:
            try:
                asyncio.run(main())
            except BaseException as exc:
                failure.append(exc)
                started.set()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert started.wait(10), "server did not start"
        if failure:
            raise failure[0]
        return self

    def stop(self) -> float:
        """Stop gracefully; returns how long it took, in seconds."""
        assert self._server is not None and self._thread is not None
        began = time.monotonic()
        self._server.should_exit = True
        self._thread.join(15)
        assert not self._thread.is_alive(), "server did not stop"
        return time.monotonic() - began

    def restart(self) -> None:
        """Stop, then serve the same file on the same port again."""
        self.stop()
        self.start()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's event loop and return its result."""
        assert self._loop is not None

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(5)

    def open_streams(self) -> int:
        """How many event streams the server holds open."""
        assert self.app is not None
        return int(self.app.state.streams.open)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    """A running server with a fast keepalive."""
    live = ServerThread(tmp_path / "nm.db", keepalive_s=0.2).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
async def ada(server: ServerThread) -> AsyncIterator[HttpSession]:
    """A principal ``ada`` owning space ``s`` with agent ``bob`` registered, over HTTP."""
    async with HttpSession(server.url, token=ADMIN_TOKEN) as admin:
        token = await admin.create_principal("ada")
    async with HttpSession(server.url, token=token, reconnect_timeout_s=20) as session:
        await session.create_space("s")
        await session.register("s", "bob", ttl_s=None)
        yield session


def _auth(session: HttpSession) -> dict[str, str]:
    return {"Authorization": str(session._client.headers["Authorization"])}


async def _wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# -- routing, auth and validation (in process) -----------------------------------------


@pytest.fixture
async def asgi() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client wired straight to an app over a memory store."""
    async with MemSpaceService(MemoryStore()) as service:
        await service.bootstrap_admin(ADMIN_TOKEN)
        transport = httpx.ASGITransport(create_app(service, max_body_bytes=4096))
        async with httpx.AsyncClient(transport=transport, base_url="http://nm") as client:
            yield client


async def test_health_needs_no_token(asgi: httpx.AsyncClient) -> None:
    assert (await asgi.get("/healthz")).json() == {"status": "ok"}
    assert (await asgi.get("/readyz")).json() == {"status": "ready"}


async def test_readyz_is_503_when_the_store_is_unreachable() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = open_store(f"etcd://127.0.0.1:{port}?timeout_s=0.5")
    service = MemSpaceService(store)
    transport = httpx.ASGITransport(create_app(service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://nm") as client:
            response = await client.get("/readyz")
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await store.aclose()
    assert response.status_code == 503
    assert response.json()["error"] == "StoreUnavailable"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {ADMIN_TOKEN}"}],
)
async def test_requests_without_a_valid_token_get_401(
    asgi: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await asgi.get("/v1/whoami", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"] == "Unauthenticated"
    with pytest.raises(Unauthenticated):
        await HttpSession("http://nm", token="nope", transport=asgi._transport).whoami()


async def test_declared_oversized_body_gets_413(asgi: httpx.AsyncClient) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    body = json.dumps({"name": "big", "description": "x" * 5000}).encode()
    response = await asgi.post("/v1/spaces", content=body, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"] == "InvalidRequest"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/spaces", b"{not json"),
        ("POST", "/v1/spaces", b'{"name": "Not A Name"}'),
        ("POST", "/v1/spaces", b'{"name": "ok", "surprise": 1}'),
        ("POST", "/v1/spaces", b'{"name": "ok", "history_retention_s": "NaN"}'),
        ("GET", "/v1/spaces/UPPER", None),
        ("GET", "/v1/spaces/s/regions/attic/records", None),
        ("GET", "/v1/spaces/s/regions/memory/records/a//b", None),
        ("GET", "/v1/spaces/s/regions/memory/records?limit=0", None),
        ("GET", "/v1/spaces/s/agents/bad%20agent/messages", None),
        ("GET", "/v1/spaces/s/agents/a/messages?after=-1", None),
        ("GET", "/v1/spaces/s/revision?at=yesterday", None),
        ("GET", "/v1/spaces/s/trace?since=inf", None),
    ],
)
async def test_malformed_requests_get_422(
    asgi: httpx.AsyncClient, method: str, path: str, body: bytes | None
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    response = await asgi.request(method, path, content=body, headers=headers)
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["error"] == "InvalidRequest"
    assert payload["message"]


async def test_unknown_route_gets_404_in_the_error_shape(asgi: httpx.AsyncClient) -> None:
    response = await asgi.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


async def test_405_names_every_method_of_the_path(asgi: httpx.AsyncClient) -> None:
    response = await asgi.patch("/v1/spaces/s")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "DELETE"}


async def test_unreachable_server_raises_store_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    async with HttpSession(url, token="t", reconnect_timeout_s=0.3) as session:
        with pytest.raises(StoreUnavailable) as caught:
            await session.delete_space("s")
        assert caught.value.outcome_unknown is False
        with pytest.raises(StoreUnavailable):
            await anext(session.listen("s", "bob"))


async def test_openapi_describes_every_route(asgi: httpx.AsyncClient) -> None:
    spec = (await asgi.get("/openapi.json")).json()
    operations = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    space, agent = "/v1/spaces/{space}", "/v1/spaces/{space}/agents/{agent}"
    records = space + "/regions/{region}/records"
    expected = {
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/v1/whoami", "get"),
        ("/v1/principals", "post"),
        ("/v1/principals/{name}/tokens", "post"),
        ("/v1/spaces", "post"),
        ("/v1/spaces", "get"),
        (space, "get"),
        (space, "delete"),
        (space + "/members/{principal}", "put"),
        (space + "/members/{principal}", "delete"),
        ("/v1/agents/{agent}/mounts/{space}", "put"),
        ("/v1/agents/{agent}/mounts/{space}", "delete"),
        ("/v1/agents/{agent}/mounts", "get"),
        (records, "post"),
        (records, "get"),
        (records + "/{key}", "get"),
        (records + "/{key}", "delete"),
        (space + "/regions/{region}/history/{key}", "get"),
        (space + "/diff", "get"),
        (space + "/revision", "get"),
        (agent, "put"),
        (agent, "delete"),
        (agent + "/heartbeat", "post"),
        (space + "/agents", "get"),
        (space + "/messages", "post"),
        (agent + "/topics", "put"),
        (agent + "/messages", "get"),
        (agent + "/cursor", "post"),
        (agent + "/cursor", "get"),
        (space + "/trace", "get"),
        (agent + "/stream", "get"),
        (space + "/search", "get"),
        (space + "/index", "get"),
        (space + "/recall", "put"),
    }
    assert operations == expected
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, method in expected - {("/healthz", "get"), ("/readyz", "get")}:
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"bearer": []}], (path, method)
        assert {"401", "422"} <= set(operation["responses"]), (path, method)
    write = spec["paths"]["/v1/spaces/{space}/regions/{region}/records"]["post"]
    body = write["requestBody"]["content"]["application/json"]["schema"]
    assert {"key", "content"} <= set(body["properties"]["records"]["items"]["properties"])
    for model in ("Record", "SpaceInfo", "CommRecord", "ErrorBody", "WriteResult"):
        assert model in spec["components"]["schemas"]


# -- a real server ----------------------------------------------------------------------


async def test_chunked_oversized_body_gets_413(tmp_path: Path) -> None:
    live = ServerThread(tmp_path / "nm.db", max_body_bytes=1024).start()
    try:

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"name": "big", "description": "'
            yield b"x" * 1000
            yield b'"}'

        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=live.url) as client:
            response = await client.post("/v1/spaces", content=chunks(), headers=headers)
            assert response.status_code == 413
            assert response.json()["error"] == "InvalidRequest"
            small = await client.post("/v1/spaces", json={"name": "small"}, headers=headers)
            assert small.status_code == 201
    finally:
        live.stop()


async def test_at_takes_revisions_and_iso_times(ada: HttpSession, server: ServerThread) -> None:
    [first] = await ada.write("s", [RecordWrite(key="plan", content="v1")], region=MEMORY)
    between = dt.datetime.now(dt.UTC)
    await asyncio.sleep(0.05)
    await ada.write("s", [RecordWrite(key="plan", content="v2")], region=MEMORY)
    naive = between.replace(tzinfo=None).isoformat()
    plus_two = between.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    for at in (str(first.revision), naive, naive + "Z", plus_two):
        async with httpx.AsyncClient(base_url=server.url, headers=_auth(ada)) as client:
            response = await client.get(
                "/v1/spaces/s/regions/memory/records/plan", params={"at": at}
            )
        assert response.status_code == 200, (at, response.text)
        assert response.json()["content"] == "v1"
    assert (await ada.get("s", "plan", region=MEMORY, at=between)).content == "v1"
    assert (await ada.get("s", "plan", region=MEMORY)).content == "v2"
    async with httpx.AsyncClient(base_url=server.url, headers=_auth(ada)) as client:
        bad = await client.get("/v1/spaces/s/revision", params={"at": "2024-02-30"})
        assert bad.status_code == 400
        assert "ISO-8601" in bad.json()["message"]
        future = await client.get(
            "/v1/spaces/s/regions/memory/records/plan", params={"at": "99999"}
        )
        assert future.status_code == 400
        assert future.json()["error"] == "InvalidRevision"


async def _read_events(
    lines: AsyncIterator[str], count: int, *, keepalives: list[str] | None = None
) -> list[dict[str, str]]:
    """The next ``count`` events of a raw stream's lines, as ``{field: value}`` dicts."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async for line in lines:
        if line.startswith(":"):
            if keepalives is not None:
                keepalives.append(line)
            continue
        if line:
            field, _, value = line.partition(": ")
            current[field] = value
            continue
        if "data" in current:
            events.append(current)
            if len(events) == count:
                return events
        current = {}
    raise AssertionError("stream ended")


async def test_stream_sends_one_event_per_message_with_keepalives(
    ada: HttpSession, server: ServerThread
) -> None:
    sent = await ada.send("s", sender="bob", to="bob", content="hello")
    async with (
        httpx.AsyncClient(base_url=server.url, headers=_auth(ada)) as client,
        client.stream("GET", "/v1/spaces/s/agents/bob/stream", params={"after": 0}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        keepalives: list[str] = []
        lines = response.aiter_lines()
        [event] = await _read_events(lines, 1)
        assert event["id"] == str(sent.revision)
        assert event["event"] == "message"
        assert CommRecord.model_validate_json(event["data"]) == sent
        live = await ada.send("s", sender="bob", to="bob", content="live")
        [event] = await _read_events(lines, 1, keepalives=keepalives)
        assert int(event["id"]) == live.revision
        await asyncio.sleep(0.5)
        await ada.send("s", sender="bob", to="bob", content="after a pause")
        await _read_events(lines, 1, keepalives=keepalives)
        assert ": keepalive" in keepalives


async def test_last_event_id_resumes_and_wins_over_after(
    ada: HttpSession, server: ServerThread
) -> None:
    sent = [await ada.send("s", sender="bob", to="bob", content=f"m{i}") for i in range(3)]
    headers = {**_auth(ada), "Last-Event-ID": str(sent[0].revision)}
    async with (
        httpx.AsyncClient(base_url=server.url, headers=headers) as client,
        client.stream("GET", "/v1/spaces/s/agents/bob/stream", params={"after": 0}) as response,
    ):
        events = await _read_events(response.aiter_lines(), 2)
    assert [int(e["id"]) for e in events] == [sent[1].revision, sent[2].revision]

    async with (
        httpx.AsyncClient(base_url=server.url, headers=_auth(ada)) as client,
        client.stream(
            "GET", "/v1/spaces/s/agents/bob/stream", params={"after": sent[1].revision}
        ) as response,
    ):
        [event] = await _read_events(response.aiter_lines(), 1)
    assert int(event["id"]) == sent[2].revision


async def test_stream_errors_come_before_the_stream_starts(
    ada: HttpSession, server: ServerThread
) -> None:
    with pytest.raises(NotFound):
        await anext(ada.listen("nowhere", "bob"))
    async with HttpSession(server.url, token=ADMIN_TOKEN) as admin:
        with pytest.raises(AccessDenied):
            await anext(admin.listen("s", "bob"))
    async with httpx.AsyncClient(base_url=server.url, headers=_auth(ada)) as client:
        bad = await client.get("/v1/spaces/s/agents/bob/stream", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 400


async def test_listen_resumes_across_a_server_restart(
    ada: HttpSession, server: ServerThread
) -> None:
    first = await ada.send("s", sender="bob", to="bob", content="before")
    listener = ada.listen("s", "bob", after=0)
    try:
        assert await anext(listener) == first
        took = await asyncio.to_thread(server.stop)
        assert took < 3, "open streams held the shutdown"
        # Written while the server is down, straight into the same file.
        async with (
            open_store(f"sqlite://{server.db}") as store,
            MemSpaceService(store) as service,
        ):
            missed = [
                await service.session("ada").send("s", sender="bob", to="bob", content=f"m{i}")
                for i in range(3)
            ]
        await asyncio.to_thread(server.start)
        received = [await asyncio.wait_for(anext(listener), 10) for _ in missed]
        assert received == missed
        live = await ada.send("s", sender="bob", to="bob", content="after")
        assert await asyncio.wait_for(anext(listener), 10) == live
    finally:
        await listener.aclose()  # type: ignore[attr-defined]


async def test_closed_streams_leave_nothing_behind(ada: HttpSession, server: ServerThread) -> None:
    def tasks() -> int:
        return len(asyncio.all_tasks())

    baseline = server.call(tasks)
    listeners = [ada.listen("s", f"agent{i}", after=0) for i in range(5)]
    pending = [asyncio.ensure_future(anext(listener)) for listener in listeners]
    await _wait_for(lambda: server.open_streams() == 5)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for listener in listeners:
        await listener.aclose()  # type: ignore[attr-defined]
    await _wait_for(lambda: server.open_streams() == 0)
    await _wait_for(lambda: server.call(tasks) <= baseline)


def _raw_stream(port: int, token: str, agent: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    request = (
        f"GET /v1/spaces/s/agents/{agent}/stream HTTP/1.1\r\nHost: nm\r\n"
        f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    sock.sendall(request.encode())
    received = b""
    while b": connected" not in received:
        received += sock.recv(4096)
    return sock


async def test_idle_subscribers_cost_little_memory(tmp_path: Path) -> None:
    live = ServerThread(tmp_path / "nm.db", keepalive_s=60).start()
    sockets: list[socket.socket] = []
    try:
        async with HttpSession(live.url, token=ADMIN_TOKEN) as admin:
            token = await admin.create_principal("ada")
        async with HttpSession(live.url, token=token) as session:
            await session.create_space("s")
            for i in range(50):  # claim the agents, so only streams differ below
                await session.cursor("s", f"a{i}")
        sockets.append(await asyncio.to_thread(_raw_stream, live.port, token, "a0"))
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for i in range(1, 50):
            sockets.append(await asyncio.to_thread(_raw_stream, live.port, token, f"a{i}"))
        await _wait_for(lambda: live.open_streams() == 50)
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        assert grown / 49 <= 64 * 1024, f"{grown / 49:.0f} bytes per idle subscriber"
    finally:
        for sock in sockets:
            sock.close()
        live.stop()


# -- serve() as a process ---------------------------------------------------------------

_SERVE = """
import asyncio, sys
from nucleusmem.server import serve
asyncio.run(serve(sys.argv[1], port=0, token_file=sys.argv[2],
                  ready=lambda port: print(port, flush=True)))
print("clean exit", flush=True)
"""


def test_serve_reports_its_port_writes_the_token_and_stops_on_sigterm(tmp_path: Path) -> None:
    token_file = tmp_path / "admin.token"
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE, f"sqlite://{tmp_path / 'nm.db'}", str(token_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        token = token_file.read_text().strip()
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(url + "/healthz").status_code == 200
        whoami = httpx.get(url + "/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        assert whoami.json()["name"] == "admin"
        httpx.post(
            url + "/v1/spaces", json={"name": "s"}, headers={"Authorization": f"Bearer {token}"}
        ).raise_for_status()
        with httpx.stream(
            "GET",
            url + "/v1/spaces/s/agents/bob/stream",
            headers={"Authorization": f"Bearer {token}"},
        ) as stream:
            assert stream.status_code == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0
        assert process.stdout.read().strip() == "clean exit"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
