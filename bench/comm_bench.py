"""Benchmark communication through the HTTP server against raw etcd, in the same run.

Usage: ``python bench/comm_bench.py [--quick] [--phases notify,fanout,write]
[--py-spy FILE]``; ``--py-spy`` records the server process with py-spy (``pip install
py-spy``) while each phase measures, into ``FILE.<phase>.txt`` (collapsed stacks).

One fresh etcd server, one NucleusMem server process on it (``nucleusmem serve`` if
the command has it, else `nucleusmem.server.serve` through ``python -c``), and a
principal and its spaces made over HTTP. Every client that receives runs in a
process of its own, on the raw asyncio client of ``_sse_client.py``; this process
sends. A latency is the receipt time in the receiving process minus the time just
before the send started here: both are ``time.perf_counter_ns()``, ``CLOCK_MONOTONIC``
on Linux, one clock for the whole machine.

Every number is the median of several repetitions, and each repetition runs ours and
its raw baseline back to back (alternating which goes first), as in ``kv_bench.py``;
a ratio is the median of the repetitions' ratios. A table goes to stdout, then, as
the last line, one JSON object with the results (null where a phase failed).

- ``notify_p50_ms`` / ``notify_p99_ms``: a direct message (``POST
  /v1/spaces/{space}/messages`` with new content, to one agent) until its event
  arrives on the agent's event stream in another process; sequential sends
  ``notify_gap_ms`` apart. ``etcd_watch_p50_ms`` / ``_p99_ms``: the same for a plain
  ``aetcd`` put here and ``watch_prefix`` in another process, same count and gap.
  ``notify_vs_etcd_watch_p50_ratio`` is the first p50 over the second. Target <= 3.0.
- ``fanout_1000_p99_ms``: 1,000 agents follow one topic, each with its own event
  stream, spread over ``fanout_receiver_procs`` processes; messages to the topic go
  ``fanout_spacing_ms`` apart; the p99 over every (subscriber, message) receipt.
  Target <= 250. ``fanout_lost``: pairs not received within ``fanout_timeout_s`` after
  the last send (must be 0).
- ``rss_kb_per_subscriber``: the server's RSS with the 1,000 streams open and idle,
  minus its RSS before they were opened, over 1,000. Target <= 64.
- ``http_batch_write_vs_kv_ratio``: records/s written by ``http_writers`` concurrent
  clients, each posting batches of ``batch_size`` records (``content_bytes`` of
  content) to a space of its own, over records/s of the same number of concurrent
  ``store.commit`` calls of as many `Put`\\ s of values as large as the stored
  records, on the same etcd. Target >= 0.5. ``http_batch_write_shared_space_vs_kv_ratio``
  is the same with every client writing to one space (its byte counter is contended).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _sse_client import HttpConnection, HttpError, Receipts, command_loop
from kv_bench import Report, Row, median, paired, percentile, ratio_row, render
from nucleusmem.kv import Put, Store, open_store

HERE = Path(__file__).resolve().parent
PHASES = ("notify", "fanout", "write")
SPACE = "comm"
TOPIC = "news"
ETCD_PREFIX = b"bench/notify/"
ETCD_VALUE = random.Random(3).randbytes(200)
WARMUP_SAMPLES = 20
ADMIN_TOKEN = "nm_bench_admin_" + os.urandom(8).hex()

KEYS = {
    "notify": [
        "notify_p50_ms",
        "notify_p99_ms",
        "etcd_watch_p50_ms",
        "etcd_watch_p99_ms",
        "notify_vs_etcd_watch_p50_ratio",
        "notify_lost",
        "notify_samples",
        "notify_gap_ms",
    ],
    "fanout": [
        "fanout_1000_p99_ms",
        "fanout_p50_ms",
        "fanout_max_ms",
        "fanout_lost",
        "fanout_subscribers",
        "fanout_messages",
        "fanout_spacing_ms",
        "fanout_receiver_procs",
        "fanout_connect_s",
        "rss_kb_per_subscriber",
        "server_rss_idle_mb",
        "server_rss_subscribed_mb",
    ],
    "write": [
        "http_batch_write_vs_kv_ratio",
        "http_batch_records_per_s",
        "kv_batch_records_per_s",
        "http_batch_write_shared_space_vs_kv_ratio",
        "http_batch_shared_space_records_per_s",
        "batch_size",
        "http_writers",
        "content_bytes",
    ],
}
"""The JSON keys each phase sets; null when it did not run or failed."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How much work each phase does; ``--quick`` shrinks everything."""

    quick: bool
    reps: int
    notify_samples: int
    gap_s: float
    subscribers: int
    receiver_procs: int
    fanout_messages: int
    fanout_spacing_s: float
    fanout_timeout_s: float
    batch_size: int
    batches_per_writer: int
    writers: int
    content_bytes: int
    phase_timeout_s: float

    @classmethod
    def make(cls, *, quick: bool) -> Plan:
        """The quick plan (under 90 s on two cores) or the full one (a few minutes)."""
        return cls(
            quick=quick,
            reps=5 if quick else 9,
            notify_samples=200 if quick else 900,
            gap_s=0.01,
            subscribers=1000,
            receiver_procs=4,
            fanout_messages=20 if quick else 100,
            fanout_spacing_s=0.5,
            fanout_timeout_s=15.0,
            batch_size=100,
            batches_per_writer=25 if quick else 60,  # runs of a few tenths of a second
            writers=4,
            content_bytes=200,
            phase_timeout_s=120.0 if quick else 600.0,
        )


# -- processes ---------------------------------------------------------------------------


class Worker:
    """A child process answering JSON commands, one line each way (see ``_sse_client``)."""

    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self.process = process
        self.name = name

    @classmethod
    async def start(cls, argv: list[str], *, name: str, timeout_s: float = 30.0) -> Worker:
        """Start ``argv`` and wait for its ``ready`` line."""
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            limit=1 << 26,
        )
        worker = cls(process, name)
        try:
            await worker._answer(timeout_s)
        except BaseException:
            worker.kill()
            raise
        return worker

    async def call(self, cmd: str, *, timeout_s: float = 60.0, **args: Any) -> dict[str, Any]:
        """Send one command and return its answer; `RuntimeError` if it failed."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        await self.process.stdin.drain()
        return await self._answer(timeout_s)

    async def _answer(self, timeout_s: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout_s)
        if not line:
            raise RuntimeError(f"{self.name} exited (code {await self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise RuntimeError(f"{self.name}: {answer.get('error')}")
        return answer

    async def quit(self) -> None:
        """Ask the process to exit; kill it if it does not within a few seconds."""
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                await self.call("quit", timeout_s=5.0)
            try:
                await asyncio.wait_for(self.process.wait(), 5.0)
            except TimeoutError:
                self.kill()

    def kill(self) -> None:
        """Kill the process if it still runs."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()


def server_command(store_url: str, port: int) -> tuple[list[str], str]:
    """The server's command line, and ``"cli"`` or ``"inline"`` for how it is started.

    ``nucleusmem serve`` if the command offers ``--store``, ``--port`` and
    ``--admin-token``; else `nucleusmem.server.serve` called from ``python -c``.
    """
    try:
        probe = subprocess.run(
            [sys.executable, "-m", "nucleusmem", "serve", "--help"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        has_cli = probe.returncode == 0 and all(
            flag in probe.stdout for flag in ("--store", "--port", "--admin-token")
        )
    except subprocess.TimeoutExpired:
        has_cli = False
    if has_cli:
        argv = [sys.executable, "-m", "nucleusmem", "serve", "--store", store_url]
        return [*argv, "--port", str(port), "--admin-token", ADMIN_TOKEN], "cli"
    code = (
        "import asyncio\n"
        "from nucleusmem.server._run import serve\n"
        f"asyncio.run(serve({store_url!r}, host='127.0.0.1', port={port}, "
        f"admin_token={ADMIN_TOKEN!r}))\n"
    )
    return [sys.executable, "-c", code], "inline"


def rss_kb(pid: int) -> int:
    """The resident set size of process ``pid``, in KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Harness:
    """etcd, the server process, and every worker started; `aclose` stops them all."""

    workdir: Path
    etcd: Any = None
    server: subprocess.Popen[bytes] | None = None
    spy_file: str | None = None
    launch: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    token: str = ""
    workers: list[Worker] = field(default_factory=list)

    @property
    def server_log(self) -> Path:
        """Where the server's stdout and stderr go."""
        return self.workdir / "server.log"

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log."""
        try:
            return "\n".join(self.server_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def start(self, spy_file: str | None) -> None:
        """Start etcd and the server; make the principal ``bench`` and its space."""
        from nucleusmem.testing.etcd import EtcdServer, free_ports

        self.etcd = EtcdServer()
        await asyncio.to_thread(self.etcd.start)
        self.port = free_ports(1)[0]
        argv, self.launch = await asyncio.to_thread(server_command, self.etcd.url, self.port)
        with self.server_log.open("wb") as log:
            self.server = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.workdir
            )
        await self._wait_ready(timeout_s=60.0)
        self.spy_file = spy_file
        async with self.connection() as http:
            made = await http.call(
                "POST", "/v1/principals", {"name": "bench"}, token=ADMIN_TOKEN, expect=201
            )
            self.token = made["token"]
            await http.call("POST", "/v1/spaces", {"name": SPACE}, token=self.token, expect=201)

    async def _wait_ready(self, *, timeout_s: float) -> None:
        assert self.server is not None
        deadline = time.monotonic() + timeout_s
        while True:
            if self.server.poll() is not None:
                raise RuntimeError(
                    f"the server exited with code {self.server.returncode}:\n{self.log_tail()}"
                )
            try:
                http = await HttpConnection.open(self.host, self.port)
                try:
                    if (await http.request("GET", "/readyz")).status == 200:
                        return
                finally:
                    await http.aclose()
            except (OSError, asyncio.IncompleteReadError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server was not ready after {timeout_s} s")
            await asyncio.sleep(0.05)

    @contextlib.asynccontextmanager
    async def profiled(self, phase: str) -> Any:
        """Record the server with py-spy meanwhile, if asked to (``--py-spy``)."""
        if self.spy_file is None or self.server is None:
            yield
            return
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        output = f"{self.spy_file}.{phase}.txt"
        argv = [spy, "record", "--pid", str(self.server.pid), "-o", output]
        process = subprocess.Popen(
            [*argv, "--format", "raw", "--rate", "250", "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(0.5)  # py-spy attaches
        try:
            yield
        finally:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
            print(f"py-spy: {phase} profile of the server in {output}")

    @contextlib.asynccontextmanager
    async def connection(self) -> Any:
        """A keep-alive connection to the server, closed on exit."""
        http = await HttpConnection.open(self.host, self.port)
        try:
            yield http
        finally:
            await http.aclose()

    async def receiver(self, name: str) -> Worker:
        """A new receiver process (``_sse_client.py``) for the space, as ``bench``."""
        config = {"host": self.host, "port": self.port, "token": self.token, "space": SPACE}
        argv = [sys.executable, str(HERE / "_sse_client.py"), json.dumps(config)]
        worker = await Worker.start(argv, name=name)
        self.workers.append(worker)
        return worker

    async def etcd_watcher(self) -> Worker:
        """A new process watching ``ETCD_PREFIX`` with the plain aetcd client."""
        host, port = self.etcd.endpoint
        config = {"host": host, "port": port, "prefix": ETCD_PREFIX.decode()}
        argv = [sys.executable, str(Path(__file__).resolve()), "--etcd-watcher", json.dumps(config)]
        worker = await Worker.start(argv, name="etcd watcher")
        self.workers.append(worker)
        return worker

    async def head(self, http: HttpConnection) -> int:
        """The store's current revision."""
        answer = await http.call("GET", f"/v1/spaces/{SPACE}/revision", token=self.token)
        return int(answer["revision"])

    async def aclose(self) -> None:
        """Stop the workers, the server and etcd, whatever state they are in."""
        await asyncio.gather(*(w.quit() for w in self.workers), return_exceptions=True)
        for worker in self.workers:
            worker.kill()
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                await asyncio.to_thread(self.server.wait, 10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                await asyncio.to_thread(self.server.wait)
        if self.etcd is not None:
            await asyncio.to_thread(self.etcd.stop)


# -- measuring ---------------------------------------------------------------------------


def latencies_ms(
    sent: dict[int, int], answer: dict[str, Any], copies: int
) -> tuple[list[float], int]:
    """Receipt minus send time of every expected (id, copy), in ms, and how many are missing."""
    received: dict[str, list[int]] = answer["received"]
    values: list[float] = []
    lost = 0
    for event_id, started in sent.items():
        times = received.get(str(event_id), [])
        values.extend((t - started) / 1e6 for t in times)
        lost += max(0, copies - len(times))
    return values, lost


async def send_message(http: HttpConnection, token: str, body: bytes) -> tuple[int, int]:
    """POST one message; the time just before sending (ns) and its revision."""
    started = time.perf_counter_ns()
    response = await http.request("POST", f"/v1/spaces/{SPACE}/messages", body=body, token=token)
    if response.status != 201:
        raise HttpError(response.status, response.body, "send")
    return started, int(response.json()["revision"])


# -- notify: one message to one agent, against a raw etcd put -> watch -------------------


async def bench_notify(plan: Plan, h: Harness, report: Report) -> None:
    """Send-to-receipt latency of direct messages, paired with raw etcd put -> watch."""
    import aetcd

    receiver, watcher = await asyncio.gather(h.receiver("notify receiver"), h.etcd_watcher())
    host, port = h.etcd.endpoint
    client = aetcd.Client(host, port)
    lost = {"ours": 0, "raw": 0}
    per_rep = max(1, plan.notify_samples // plan.reps)
    ours_samples: list[list[float]] = []
    raw_samples: list[list[float]] = []
    async with h.connection() as http:
        await http.call("PUT", f"/v1/spaces/{SPACE}/agents/rx", {"ttl_s": None}, token=h.token)
        await receiver.call("connect", agents=["rx"], last_event_id=await h.head(http))
        body = json.dumps({"sender": "tx", "to": "rx", "content": "ping " * 20}).encode()
        numbers = itertools.count()

        async def ours(count: int) -> list[float]:
            sent: dict[int, int] = {}
            for _ in range(count):
                started, revision = await send_message(http, h.token, body)
                sent[revision] = started
                await asyncio.sleep(plan.gap_s)
            answer = await receiver.call("collect", expect=list(sent), timeout_s=10.0)
            values, missing = latencies_ms(sent, answer, 1)
            lost["ours"] += missing
            return values

        async def raw(count: int) -> list[float]:
            sent: dict[int, int] = {}
            for _ in range(count):
                number = next(numbers)
                started = time.perf_counter_ns()
                await client.put(ETCD_PREFIX + b"%08d" % number, ETCD_VALUE)
                sent[number] = started
                await asyncio.sleep(plan.gap_s)
            answer = await watcher.call("collect", expect=list(sent), timeout_s=10.0)
            values, missing = latencies_ms(sent, answer, 1)
            lost["raw"] += missing
            return values

        async def ours_rep() -> float:
            ours_samples.append(await ours(per_rep))
            return percentile(ours_samples[-1], 0.5)

        async def raw_rep() -> float:
            raw_samples.append(await raw(per_rep))
            return percentile(raw_samples[-1], 0.5)

        try:
            await ours(WARMUP_SAMPLES)
            await raw(WARMUP_SAMPLES)
            lost.update(ours=0, raw=0)
            async with h.profiled("notify"):
                ours_p50, raw_p50 = await paired(plan.reps, ours_rep, raw_rep)
        finally:
            await client.close()
    everything = [x for run in ours_samples for x in run]
    raw_everything = [x for run in raw_samples for x in run]
    row, ratio = ratio_row("send -> event p50", "ms", ours_p50, raw_p50, "<= 3.0")
    report.add("notify", row)
    p99 = percentile(everything, 0.99)
    raw_p99 = percentile(raw_everything, 0.99)
    report.add("notify", Row("send -> event p99", "ms", p99, raw_p99, p99 / raw_p99))
    report.results.update(
        notify_p50_ms=median(ours_p50),
        notify_p99_ms=p99,
        etcd_watch_p50_ms=median(raw_p50),
        etcd_watch_p99_ms=raw_p99,
        notify_vs_etcd_watch_p50_ratio=ratio,
        notify_lost=lost["ours"],
        notify_samples=len(everything),
        notify_gap_ms=plan.gap_s * 1e3,
    )
    if lost["ours"] or lost["raw"]:
        report.add("notify", Row(f"LOST: ours {lost['ours']}, raw {lost['raw']}", "", None))
    await asyncio.gather(receiver.quit(), watcher.quit())


async def _watch_etcd(config: dict[str, Any]) -> None:
    """The ``--etcd-watcher`` process: receipt times of events under a prefix."""
    import aetcd

    prefix = config["prefix"].encode()
    client = aetcd.Client(config["host"], config["port"])
    receipts = Receipts()
    watch = await client.watch_prefix(prefix)

    async def pump() -> None:
        async for event in watch:
            now = time.perf_counter_ns()
            receipts.add(int(event.kv.key[len(prefix) :]), now)

    task = asyncio.create_task(pump())

    async def collect(command: dict[str, Any]) -> dict[str, Any]:
        return await receipts.collect(command, copies=1)

    try:
        await command_loop({"collect": collect})
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await watch.cancel()
        await client.close()


# -- fanout: one topic, a thousand event streams -----------------------------------------


async def bench_fanout(plan: Plan, h: Harness, report: Report) -> None:
    """Topic messages to ``plan.subscribers`` streams; their latency and server memory."""
    assert h.server is not None
    agents = [f"fan{i:04d}" for i in range(plan.subscribers)]
    groups = [agents[i :: plan.receiver_procs] for i in range(plan.receiver_procs)]
    receivers = await asyncio.gather(
        *(h.receiver(f"fanout receiver {i}") for i in range(plan.receiver_procs))
    )
    await asyncio.gather(
        *(
            r.call("subscribe", agents=group, topics=[TOPIC], timeout_s=plan.phase_timeout_s)
            for r, group in zip(receivers, groups, strict=True)
        )
    )
    body = json.dumps({"sender": "announcer", "topic": TOPIC, "content": "news " * 20}).encode()
    async with h.connection() as http:
        head = await h.head(http)
    await asyncio.sleep(0.5)
    before_kb = rss_kb(h.server.pid)
    started = time.perf_counter()
    answers = await asyncio.gather(
        *(
            r.call("connect", agents=group, last_event_id=head, timeout_s=plan.phase_timeout_s)
            for r, group in zip(receivers, groups, strict=True)
        )
    )
    connect_s = time.perf_counter() - started
    connected = sum(a["connected"] for a in answers)
    if connected != plan.subscribers:
        raise RuntimeError(f"{connected} of {plan.subscribers} streams connected")
    await asyncio.sleep(1.0)
    after_kb = rss_kb(h.server.pid)
    # (A new connection: the server drops keep-alive connections idle for 5 s.)
    async with h.connection() as http:
        # A first message: every stream is live once each has it.
        _, first = await send_message(http, h.token, body)
        answers = await asyncio.gather(
            *(r.call("collect", expect=[first], timeout_s=30.0) for r in receivers)
        )
        missing = sum(
            latencies_ms({first: 0}, a, len(g))[1] for a, g in zip(answers, groups, strict=True)
        )
        if missing:
            raise RuntimeError(f"{missing} streams never got the first message")

        sent: dict[int, int] = {}
        async with h.profiled("fanout"):
            for _ in range(plan.fanout_messages):
                t0 = time.perf_counter()
                started_ns, revision = await send_message(http, h.token, body)
                sent[revision] = started_ns
                await asyncio.sleep(max(0.0, plan.fanout_spacing_s - (time.perf_counter() - t0)))
        answers = await asyncio.gather(
            *(
                r.call("collect", expect=list(sent), timeout_s=plan.fanout_timeout_s)
                for r in receivers
            )
        )
    values: list[float] = []
    lost = 0
    failures: list[str] = []
    for answer, group in zip(answers, groups, strict=True):
        got, missing = latencies_ms(sent, answer, len(group))
        values.extend(got)
        lost += missing
        failures.extend(answer["failures"])
    await asyncio.gather(*(r.call("close", timeout_s=30.0) for r in receivers))
    await asyncio.gather(*(r.quit() for r in receivers))
    if not values:
        raise RuntimeError(f"no message reached any stream ({lost} pairs lost)")
    per_sub = (after_kb - before_kb) / plan.subscribers
    p99 = percentile(values, 0.99)
    report.add("fanout", Row(f"{plan.subscribers} subscribers p50", "ms", percentile(values, 0.5)))
    report.add("fanout", Row(f"{plan.subscribers} subscribers p99", "ms", p99, target="<= 250"))
    report.add("fanout", Row("lost (subscriber, message)", "pairs", lost))
    report.add("fanout", Row("connect all streams", "s", connect_s))
    report.add("fanout", Row("server RSS per subscriber", "KiB", per_sub, target="<= 64"))
    if failures:
        report.add("fanout", Row(f"stream failures: {failures[:3]}", "", None))
    report.results.update(
        fanout_1000_p99_ms=p99,
        fanout_p50_ms=percentile(values, 0.5),
        fanout_max_ms=max(values) if values else None,
        fanout_lost=lost,
        fanout_subscribers=plan.subscribers,
        fanout_messages=plan.fanout_messages,
        fanout_spacing_ms=plan.fanout_spacing_s * 1e3,
        fanout_receiver_procs=plan.receiver_procs,
        fanout_connect_s=connect_s,
        rss_kb_per_subscriber=per_sub,
        server_rss_idle_mb=before_kb / 1024,
        server_rss_subscribed_mb=after_kb / 1024,
    )


# -- write: batches over HTTP against batched commits ------------------------------------


async def bench_write(plan: Plan, h: Harness, report: Report) -> None:
    """Records/s of batch writes over HTTP against `Store.commit` of the same batches."""
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits
    contents = ["".join(rng.choices(alphabet, k=plan.content_bytes)) for _ in range(64)]
    spaces = [f"write{i}" for i in range(plan.writers)]
    async with h.connection() as http:
        for space in [*spaces, "shared"]:
            await http.call("POST", "/v1/spaces", {"name": space}, token=h.token, expect=201)
    serial = itertools.count()
    per_run = plan.writers * plan.batches_per_writer * plan.batch_size

    def http_bodies() -> list[list[bytes]]:
        """For each writer, its batches as request bodies (fresh keys every time)."""
        run = next(serial)
        return [
            [
                json.dumps(
                    {
                        "records": [
                            {"key": f"r{run}/w{w}/b{b}/{j}", "content": rng.choice(contents)}
                            for j in range(plan.batch_size)
                        ]
                    }
                ).encode()
                for b in range(plan.batches_per_writer)
            ]
            for w in range(plan.writers)
        ]

    def http_run(space_of: Callable[[int], str]) -> Callable[[], Awaitable[float]]:
        async def run() -> float:
            bodies = http_bodies()
            connections = [await HttpConnection.open(h.host, h.port) for _ in range(plan.writers)]

            async def writer(w: int) -> None:
                path = f"/v1/spaces/{space_of(w)}/regions/memory/records"
                for body in bodies[w]:
                    answer = await connections[w].request("POST", path, body=body, token=h.token)
                    if answer.status != 201:
                        raise HttpError(answer.status, answer.body, f"POST {path}")

            try:
                started = time.perf_counter()
                await asyncio.gather(*(writer(w) for w in range(plan.writers)))
                return per_run / (time.perf_counter() - started)
            finally:
                for connection in connections:
                    await connection.aclose()

        return run

    store: Store = open_store(h.etcd.url)

    async def direct() -> float:
        run = next(serial)
        batches = [
            [
                [
                    Put(
                        b"bench/direct/r%d/w%d/b%d/%d" % (run, w, b, j),
                        json.dumps(
                            {"c": rng.choice(contents), "w": time.time()}, separators=(",", ":")
                        ).encode(),
                    )
                    for j in range(plan.batch_size)
                ]
                for b in range(plan.batches_per_writer)
            ]
            for w in range(plan.writers)
        ]

        async def writer(w: int) -> None:
            for batch in batches[w]:
                await store.commit(batch)

        started = time.perf_counter()
        await asyncio.gather(*(writer(w) for w in range(plan.writers)))
        return per_run / (time.perf_counter() - started)

    own_space = http_run(lambda w: spaces[w])
    one_space = http_run(lambda w: "shared")
    shared_runs: list[float] = []

    async def ours() -> float:
        shared_runs.append(await one_space())
        return await own_space()

    try:
        await paired(1, ours, direct)  # warm-up
        shared_runs.clear()
        async with h.profiled("write"):
            ours_runs, raw_runs = await paired(plan.reps, ours, direct)
    finally:
        await store.aclose()
    row, ratio = ratio_row(
        f"batch writes ({plan.batch_size}/batch)", "records/s", ours_runs, raw_runs, ">= 0.5"
    )
    report.add("write", row)
    shared_row, shared_ratio = ratio_row(
        "the same, all to one space", "records/s", shared_runs, raw_runs
    )
    report.add("write", shared_row)
    report.results.update(
        http_batch_write_vs_kv_ratio=ratio,
        http_batch_records_per_s=median(ours_runs),
        kv_batch_records_per_s=median(raw_runs),
        http_batch_write_shared_space_vs_kv_ratio=shared_ratio,
        http_batch_shared_space_records_per_s=median(shared_runs),
        batch_size=plan.batch_size,
        http_writers=plan.writers,
        content_bytes=plan.content_bytes,
    )


# -- driver ------------------------------------------------------------------------------

BENCHES = {"notify": bench_notify, "fanout": bench_fanout, "write": bench_write}


async def run(plan: Plan, phases: list[str], spy_file: str | None) -> Report:
    """Start everything, run the phases (each with a timeout), stop everything."""
    report = Report(
        {},
        {"quick": plan.quick, "reps": plan.reps, "store": "etcd", "server_nodes": 1},
    )
    for phase in PHASES:
        report.results.update(dict.fromkeys(KEYS[phase]))
        report.results[f"{phase}_error"] = None
    with tempfile.TemporaryDirectory(prefix="nm-comm-bench-") as tmp:
        harness = Harness(Path(tmp))
        try:
            try:
                await asyncio.wait_for(harness.start(spy_file), 120.0)
            except Exception as exc:
                traceback.print_exc()
                print(f"setup failed: {exc!r}\n{harness.log_tail()}")
                report.failed = True
                report.results["setup_error"] = str(exc)
                return report
            report.results["server_launch"] = harness.launch
            for phase in phases:
                try:
                    await asyncio.wait_for(
                        BENCHES[phase](plan, harness, report), plan.phase_timeout_s
                    )
                except Exception as exc:
                    traceback.print_exc()
                    message = str(exc) or type(exc).__name__
                    print(f"{phase} failed: {message}\nserver log:\n{harness.log_tail(10)}")
                    report.failed = True
                    report.results.update(dict.fromkeys(KEYS[phase]))
                    report.results[f"{phase}_error"] = message
                    report.rows[phase] = [Row(f"FAILED: {message.splitlines()[0]}", "", None)]
                    for worker in harness.workers:
                        worker.kill()
                    harness.workers.clear()
        finally:
            await harness.aclose()
    return report


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smaller run, under 90 s")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help="comma-separated subset of notify,fanout,write (default: all)",
    )
    parser.add_argument("--py-spy", metavar="FILE", help="record the server with py-spy")
    parser.add_argument("--etcd-watcher", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.etcd_watcher:
        asyncio.run(_watch_etcd(json.loads(args.etcd_watcher)))
        return 0
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phases {unknown}; choose from {', '.join(PHASES)}")
    plan = Plan.make(quick=args.quick)
    started = time.perf_counter()
    report = asyncio.run(run(plan, phases, args.py_spy))
    report.results["elapsed_s"] = round(time.perf_counter() - started, 1)
    print(render(report))
    print(json.dumps(report.results))
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
