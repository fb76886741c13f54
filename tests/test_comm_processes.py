"""Messages across processes and server nodes: real servers, real SSE, real restarts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import nucleusmem
from spaces import ServerProcess

if TYPE_CHECKING:
    from nucleusmem.testing.etcd import EtcdServer

ADMIN = "nm_admin-token-for-tests"

RECEIVER = textwrap.dedent(
    """
    import json, sys
    import nucleusmem

    url, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with nucleusmem.open(url, token=token) as client:
        team = client.space("team")
        for n, message in enumerate(team.listen("bo"), 1):
            content = team.get(message.ref_key).content
            print(json.dumps({"revision": message.revision, "content": content}), flush=True)
            team.ack("bo", message.revision)
            if n == count:
                break
    """
)


class Receiver:
    """Agent ``bo`` listening in another process; reads its lines as they come."""

    def __init__(self, url: str, token: str, count: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, url, token, str(count)],
            stdout=subprocess.PIPE,
            text=True,
        )

    def lines(self, n: int) -> list[dict[str, object]]:
        """The next ``n`` messages it printed."""
        assert self.proc.stdout is not None
        out = []
        for _ in range(n):
            line = self.proc.stdout.readline()
            assert line, "the receiver ended early"
            out.append(json.loads(line))
        return out

    def wait(self) -> int:
        """Its exit status."""
        return self.proc.wait(30)


def setup_team(url: str) -> tuple[str, str]:
    """Principals alice and bob, space team (bob rw), agent bo registered; their tokens."""
    with nucleusmem.open(url, token=ADMIN) as admin:
        alice, bob = admin.create_principal("alice"), admin.create_principal("bob")
    with nucleusmem.open(url, token=alice) as client:
        client.create_space("team", members={"bob": "rw"})
    with nucleusmem.open(url, token=bob) as client:
        client.space("team").register("bo", ttl_s=None)
    return alice, bob


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server process on a SQLite file."""
    with ServerProcess(f"sqlite://{tmp_path / 'nm.db'}", ADMIN) as srv:
        yield srv


def test_offline_receiver_gets_exactly_what_it_missed(server: ServerProcess) -> None:
    alice, bob = setup_team(server.url)
    sender = nucleusmem.open(server.url, token=alice)
    team = sender.space("team")
    try:
        first = Receiver(server.url, bob, 3)
        sent = [team.send("ada", to="bo", content=f"m{i}").revision for i in range(3)]
        got = first.lines(3)
        assert first.wait() == 0
        assert [g["revision"] for g in got] == sent
        assert [g["content"] for g in got] == ["m0", "m1", "m2"]

        missed = [team.send("ada", to="bo", content=f"away{i}").revision for i in range(3)]
        server.stop()  # the server restarts while the receiver is away
        server.start()
        missed += [team.send("ada", to="bo", content=f"after{i}").revision for i in range(2)]

        second = Receiver(server.url, bob, 7)
        got = second.lines(5)
        assert [g["revision"] for g in got] == missed  # exactly the missed ones, in order
        server.stop()  # and once more while it is connected
        server.start()
        later = [team.send("ada", to="bo", content=f"late{i}").revision for i in range(2)]
        got = second.lines(2)
        assert [g["revision"] for g in got] == later
        assert second.wait() == 0
    finally:
        sender.close()


def test_send_on_one_node_reaches_a_listener_on_another(etcd_server: EtcdServer) -> None:
    url = etcd_server.url  # both nodes serve the one etcd
    with ServerProcess(url, ADMIN) as node1, ServerProcess(url, ADMIN) as node2:
        alice, bob = setup_team(node1.url)
        receiver = Receiver(node2.url, bob, 4)
        with nucleusmem.open(node1.url, token=alice) as client:
            team = client.space("team")
            sent = [team.send("ada", to="bo", content=f"n{i}").revision for i in range(4)]
        got = receiver.lines(4)
        assert [g["revision"] for g in got] == sent
        assert [g["content"] for g in got] == ["n0", "n1", "n2", "n3"]
        assert receiver.wait() == 0
