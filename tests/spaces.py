"""Test helpers: a MemSpace deployment reached embedded or over a real HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

from nucleusmem.client import AsyncClient
from nucleusmem.kv import Store, open_store
from nucleusmem.recall._service import RecallService, RecallSession
from nucleusmem.space import MemSpaceService

__all__ = ["Deployment", "ServerProcess", "deployment", "free_port", "running_server"]


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def running_server(service: MemSpaceService) -> AsyncIterator[str]:
    """Serve ``service`` with uvicorn on a free loopback port; yields the base URL."""
    from nucleusmem.server import AppServer, create_app
    from nucleusmem.server._run import bind

    sock = bind("127.0.0.1", 0)
    recall = RecallService(service)
    server = AppServer(create_app(service, recall=recall))
    task = asyncio.get_running_loop().create_task(server.serve_on(sock))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        await recall.aclose()


@dataclass
class Deployment:
    """A store and service, and how principals connect: embedded or remote."""

    mode: str
    store: Store
    service: MemSpaceService
    url: str | None = None
    admin_token: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    clients: list[AsyncClient] = field(default_factory=list)
    recall: RecallService | None = None

    async def connect(self, principal: str) -> AsyncClient:
        """A client acting as ``principal`` (created on first use when remote)."""
        if self.mode == "embedded":
            if self.recall is None:
                self.recall = RecallService(self.service)
            client = AsyncClient(RecallSession(self.service, principal, self.recall))
        else:
            from nucleusmem.client._http import HttpSession

            assert self.url is not None
            if principal not in self.tokens:
                admin = self.service.session("admin")
                self.tokens[principal] = await admin.create_principal(principal)
            client = AsyncClient(HttpSession(self.url, token=self.tokens[principal]))
        self.clients.append(client)
        return client


@contextlib.asynccontextmanager
async def deployment(mode: str, store_url: str) -> AsyncIterator[Deployment]:
    """A deployment on a fresh store at ``store_url``, reached ``mode`` (embedded|remote)."""
    async with open_store(store_url) as store, MemSpaceService(store) as service:
        admin_token = await service.bootstrap_admin()
        dep = Deployment(mode, store, service, admin_token=admin_token)
        if mode == "embedded":
            try:
                yield dep
            finally:
                for client in dep.clients:
                    await client.aclose()
                if dep.recall is not None:
                    await dep.recall.aclose()
            return
        async with running_server(service) as url:
            dep.url = url
            try:
                yield dep
            finally:
                for client in dep.clients:
                    await client.aclose()


class ServerProcess:
    """``nucleusmem serve`` in a subprocess on a free port; restartable, killable."""

    def __init__(self, store_url: str, admin_token: str) -> None:
        self.store_url = store_url
        self.admin_token = admin_token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the server and wait until it is ready."""
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nucleusmem",
                "serve",
                "--store",
                self.store_url,
                "--port",
                str(self.port),
                "--admin-token",
                self.admin_token,
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError("server did not become ready")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGKILL for a crash) and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
