"""`serve`: run the HTTP API over a store until SIGTERM or SIGINT.

The server binds its socket itself (so ``port=0`` works and a taken port raises
`OSError` rather than exiting the process), then runs uvicorn. On a signal it stops
accepting, ends open event streams, waits up to ``graceful_shutdown_s`` for requests
in flight, closes the space service and the store, and returns normally.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from nucleusmem.kv import open_store
from nucleusmem.recall._embedder import Embedder
from nucleusmem.recall._service import RecallService
from nucleusmem.server._app import create_app
from nucleusmem.server._sse import StreamRegistry

__all__ = ["AppServer", "bind", "serve"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def serve(
    store_url: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    admin_token: str | None = None,
    token_file: str | None = None,
    ready: Callable[[int], None] | None = None,
    embedder: Embedder | None = None,
    index_dir: str | None = None,
) -> None:
    """Serve the store at ``store_url`` over HTTP on ``host``:``port`` until a signal.

    The principal ``admin`` is made to hold ``admin_token``; if None, the token in
    ``token_file`` when that file exists, else a new random token. A new token is
    written to ``token_file`` (mode 0600) if given, else printed to stderr. ``ready``
    is called with the bound port once the server accepts connections (``port=0``
    picks a free port).
    """
    from nucleusmem.space import MemSpaceService

    if admin_token is None and token_file is not None and os.path.exists(token_file):
        with open(token_file, encoding="utf-8") as f:
            admin_token = f.read().strip() or None
    sock = bind(host, port)
    with sock:
        async with open_store(store_url) as store, MemSpaceService(store) as service:
            token = await service.bootstrap_admin(admin_token)
            if token_file is not None:
                write_secret(token_file, token)
                print(f"nucleusmem: admin token written to {token_file}", file=sys.stderr)
            elif admin_token is None:
                print(f"nucleusmem: admin token: {token}", file=sys.stderr)
            recall = RecallService(
                service, embedder=embedder, index_dir=Path(index_dir) if index_dir else None
            )
            print(f"nucleusmem: search embeds with {recall.embedder.name}", file=sys.stderr)
            server = AppServer(create_app(service, recall=recall))
            _tune_gc()

            def started(bound: int) -> None:
                if ready is not None:
                    ready(bound)
                else:
                    print(f"nucleusmem: serving http://{host}:{bound}", file=sys.stderr)

            try:
                await server.serve_on(sock, ready=started)
            finally:
                await recall.aclose()


def _tune_gc() -> None:
    """Collect garbage less often.

    A batch write allocates thousands of short-lived objects (models, messages), and
    the default threshold ran a collection every few hundred; what is alive at
    start-up is frozen out of the collector's scans.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: a free port), ready to listen."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def write_secret(path: str, secret: str) -> None:
    """Write ``secret`` to ``path``, readable by the owner only (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        os.fchmod(fd, 0o600)
        file.write(secret + "\n")


class AppServer(uvicorn.Server):
    """uvicorn serving one NucleusMem app, ending its event streams on shutdown.

    Signals are handled as uvicorn does (first SIGINT/SIGTERM: graceful; a second
    SIGINT: at once), but not raised again afterwards, so the caller's cleanup runs.
    Set ``should_exit`` to stop it from another thread.
    """

    def __init__(self, app: Any, *, graceful_shutdown_s: float = 5.0) -> None:
        config = uvicorn.Config(
            app,
            log_level="warning",
            loop="asyncio",  # the caller's loop; see nucleusmem.cli for why not uvloop
            http="httptools" if _has("httptools") else "h11",
            lifespan="off",
            access_log=False,
            proxy_headers=False,  # no proxy is trusted to say who the client is
            timeout_graceful_shutdown=max(1, round(graceful_shutdown_s)),
        )
        super().__init__(config)
        self._streams: StreamRegistry = app.state.streams

    async def serve_on(
        self, sock: socket.socket, *, ready: Callable[[int], None] | None = None
    ) -> None:
        """Serve on ``sock`` until told to stop; ``ready(port)`` once listening."""
        task = asyncio.ensure_future(self.serve(sockets=[sock]))
        try:
            while not self.started and not task.done():
                await asyncio.sleep(0.01)
            if self.started and ready is not None:
                ready(sock.getsockname()[1])
            await asyncio.shield(task)
        except asyncio.CancelledError:
            self.should_exit = True
            await task
            raise

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """End open event streams, then shut down as uvicorn does."""
        self._streams.close_all()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Route SIGINT and SIGTERM to `handle_exit` while serving (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True
