"""Real etcd processes on free loopback ports, for tests, benchmarks and failover drills.

```
with EtcdCluster(size=3) as cluster:
    store = open_store(cluster.url)
    cluster.kill(cluster.leader_index())   # SIGKILL the leader
    ...
    cluster.restart(0)                     # same data dir, rejoins the cluster
```

Each member gets its own client and peer port and its own directory (``data/`` plus
``etcd.log``) under a temporary directory that `stop` removes. fsync stays on: these
are the durability guarantees the store relies on. Short heartbeat and election
timeouts make failover take about a second.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from nucleusmem.errors import ConfigurationError

__all__ = ["EtcdCluster", "EtcdServer", "find_etcd", "free_ports"]

HOST = "127.0.0.1"
_LOG_TAIL_LINES = 30
_START_ATTEMPTS = 3


def find_etcd() -> str:
    """The path of the ``etcd`` binary; `ConfigurationError` if it is not installed."""
    path = shutil.which("etcd")
    if path is None:
        raise ConfigurationError(
            "the etcd binary was not found on PATH; install it (apt-get install etcd-server) "
            "or download a release from https://github.com/etcd-io/etcd/releases"
        )
    return path


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago.

    All sockets are held open until every port is chosen, so the ports differ.
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(slots=True)
class _Member:
    name: str
    client_port: int
    peer_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "etcd.log"

    @property
    def client_url(self) -> str:
        return f"http://{HOST}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{HOST}:{self.peer_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class EtcdCluster:
    """A cluster of ``size`` real etcd members on free loopback ports.

    ``heartbeat_interval_ms`` and ``election_timeout_ms`` are passed to etcd (short by
    default, for fast failover); ``start_timeout_s`` bounds the wait for health on
    `start` and `restart`; ``directory`` keeps the members' data and logs there
    instead of in a temporary directory; ``extra_args`` are appended to every
    member's command line. A context manager: entering starts, leaving stops.
    """

    def __init__(
        self,
        size: int = 3,
        *,
        directory: str | os.PathLike[str] | None = None,
        heartbeat_interval_ms: int = 50,
        election_timeout_ms: int = 500,
        start_timeout_s: float = 20.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        if size < 1:
            raise ValueError(f"a cluster needs at least one member, got size={size}")
        self.size = size
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.election_timeout_ms = election_timeout_ms
        self.start_timeout_s = start_timeout_s
        self.extra_args = tuple(extra_args)
        self._given_directory = Path(directory) if directory is not None else None
        self._directory: Path | None = None
        self._members: list[_Member] = []
        self._token = ""

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        """Start every member and wait until each reports healthy.

        Retries on fresh ports if one was taken in the meantime; raises `RuntimeError`
        with the end of the member's log if the cluster does not become healthy.
        """
        if self._members:
            raise RuntimeError("the cluster is already started")
        binary = find_etcd()
        for attempt in range(_START_ATTEMPTS):
            self._prepare()
            try:
                for member in self._members:
                    self._spawn(binary, member, state="new")
                for member in self._members:
                    self._wait_healthy(member)
                return self
            except RuntimeError as exc:
                port_taken = any("address already in use" in m.log_tail() for m in self._members)
                self.stop()
                if not port_taken or attempt == _START_ATTEMPTS - 1:
                    raise exc from None
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop every member (SIGTERM, then SIGKILL) and remove the temporary directory."""
        for member in self._members:
            _terminate(member)
        self._members = []
        if self._directory is not None and self._given_directory is None:
            shutil.rmtree(self._directory, ignore_errors=True)
        self._directory = None

    def kill(self, index: int) -> None:
        """SIGKILL member ``index``, as a crash would; its data dir is kept."""
        member = self._members[index]
        if member.process is not None:
            member.process.kill()
            member.process.wait()

    def restart(self, index: int) -> None:
        """Start member ``index`` again on its data dir (killing it first if running)."""
        member = self._members[index]
        if member.running:
            self.kill(index)
        self._spawn(find_etcd(), member, state="existing")
        self._wait_healthy(member)

    def is_running(self, index: int) -> bool:
        """Whether member ``index``'s process is alive."""
        return self._members[index].running

    # -- addresses and state ---------------------------------------------------------

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        """The members' client endpoints, ``(host, port)``, in member order."""
        return [(HOST, m.client_port) for m in self._members]

    @property
    def url(self) -> str:
        """The store URL of the whole cluster: ``etcd://127.0.0.1:p1,127.0.0.1:p2,...``."""
        return "etcd://" + ",".join(f"{host}:{port}" for host, port in self.endpoints)

    def log_tail(self, index: int, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of member ``index``'s log."""
        return self._members[index].log_tail(lines)

    def leader_index(self, timeout_s: float = 10.0) -> int:
        """The index of the current leader, asking each running member's status.

        Waits up to ``timeout_s`` for a leader that is one of the running members.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            ids: dict[str, int] = {}
            leaders: set[str] = set()
            for index, member in enumerate(self._members):
                if not member.running:
                    continue
                status = _status(member)
                if status is not None:
                    ids[status[0]] = index
                    if status[1] not in ("", "0"):
                        leaders.add(status[1])
            if len(leaders) == 1 and (leader := leaders.pop()) in ids:
                return ids[leader]
            if time.monotonic() > deadline:
                raise RuntimeError(f"no leader among the running members after {timeout_s} s")
            time.sleep(0.05)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, url={self.url!r})"

    # -- internals -------------------------------------------------------------------

    def _prepare(self) -> None:
        if self._given_directory is not None:
            self._directory = self._given_directory
            self._directory.mkdir(parents=True, exist_ok=True)
        else:
            self._directory = Path(tempfile.mkdtemp(prefix="nucleusmem-etcd-"))
        ports = free_ports(2 * self.size)
        self._token = f"nucleusmem-{uuid.uuid4().hex[:12]}"
        self._members = [
            _Member(f"m{i}", ports[2 * i], ports[2 * i + 1], self._directory / f"m{i}")
            for i in range(self.size)
        ]
        for member in self._members:
            shutil.rmtree(member.directory, ignore_errors=True)
            member.directory.mkdir(parents=True)

    def _spawn(self, binary: str, member: _Member, *, state: str) -> None:
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self._members)
        args = [
            binary,
            "--name", member.name,
            "--data-dir", str(member.data_dir),
            "--listen-client-urls", member.client_url,
            "--advertise-client-urls", member.client_url,
            "--listen-peer-urls", member.peer_url,
            "--initial-advertise-peer-urls", member.peer_url,
            "--initial-cluster", initial,
            "--initial-cluster-token", self._token,
            "--initial-cluster-state", state,
            "--heartbeat-interval", str(self.heartbeat_interval_ms),
            "--election-timeout", str(self.election_timeout_ms),
            "--logger", "zap",
            "--log-outputs", "stderr",
            *self.extra_args,
        ]  # fmt: skip
        with member.log_path.open("ab") as log:
            member.process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    def _wait_healthy(self, member: _Member) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if not member.running:
                raise RuntimeError(
                    f"etcd member {member.name} exited with code "
                    f"{member.process.returncode if member.process else None}; "
                    f"log tail:\n{member.log_tail()}"
                )
            if _healthy(member):
                return
            time.sleep(0.05)
        raise RuntimeError(
            f"etcd member {member.name} at {member.client_url} was not healthy after "
            f"{self.start_timeout_s} s; log tail:\n{member.log_tail()}"
        )


class EtcdServer(EtcdCluster):
    """A single etcd member on free loopback ports: `EtcdCluster` of size one."""

    def __init__(
        self,
        *,
        directory: str | os.PathLike[str] | None = None,
        heartbeat_interval_ms: int = 50,
        election_timeout_ms: int = 500,
        start_timeout_s: float = 20.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(
            1,
            directory=directory,
            heartbeat_interval_ms=heartbeat_interval_ms,
            election_timeout_ms=election_timeout_ms,
            start_timeout_s=start_timeout_s,
            extra_args=extra_args,
        )

    @property
    def endpoint(self) -> tuple[str, int]:
        """The server's client endpoint, ``(host, port)``."""
        return self.endpoints[0]


def _healthy(member: _Member) -> bool:
    try:
        with urllib.request.urlopen(member.client_url + "/health", timeout=1.0) as reply:
            body = json.loads(reply.read())
    except (OSError, ValueError):
        return False
    return bool(body.get("health") in ("true", True))


def _status(member: _Member) -> tuple[str, str] | None:
    """``(member_id, leader_id)`` from the member's Maintenance.Status (JSON gateway)."""
    request = urllib.request.Request(
        member.client_url + "/v3/maintenance/status",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=1.0) as reply:
            body = json.loads(reply.read())
    except (OSError, ValueError):
        return None
    return str(body.get("header", {}).get("member_id", "")), str(body.get("leader", ""))


def _terminate(member: _Member) -> None:
    process = member.process
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
