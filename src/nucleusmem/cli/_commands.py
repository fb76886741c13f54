"""What each ``nucleusmem`` command does, through the sync SDK (`nucleusmem.client`).

A handler takes the `Context` (the parsed arguments and a client opened on first use)
and prints through `Context.show`: plain text for people, JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from nucleusmem.cli import _format as fmt
from nucleusmem.client import Client, Space
from nucleusmem.client import open as open_client
from nucleusmem.errors import NucleusMemError
from nucleusmem.space._models import CommRecord

__all__ = ["CommandFailed", "Context", "Handler", "UsageError"]


class UsageError(Exception):
    """The command line asks for something impossible; exits with status 2."""


class CommandFailed(Exception):
    """A command failed for a reason outside NucleusMem (a port in use); exits with 1."""


class Context:
    """One run of a command: its arguments, its client, and where output goes."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        """The parsed command line."""
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        """The client for ``--url``, opened on first use."""
        if self._client is None:
            args = self.args
            self._client = open_client(args.url, token=args.token, principal=args.principal)
        return self._client

    def space(self) -> Space:
        """A handle on the space the command names."""
        return self.client.space(self.args.space)

    def show(self, data: Any, text: str) -> None:
        """Print ``data`` as JSON with ``--json``, else ``text``."""
        print(fmt.dumps(data) if self.args.json else text, flush=True)

    def close(self) -> None:
        """Close the client, if one was opened."""
        client, self._client = self._client, None
        if client is not None:
            client.close()


Handler = Callable[[Context], None]
"""A command: does its work and prints through the context."""


# server and demo -----------------------------------------------------------------------
def serve(ctx: Context) -> None:
    """Run the HTTP server until SIGINT or SIGTERM."""
    from nucleusmem.recall._choose import open_embedder
    from nucleusmem.server import serve as run_server

    a = ctx.args
    embedder = open_embedder(a.embedder, url=a.embed_url, model=a.embed_model, api_key=a.embed_key)
    try:
        _run_loop(
            run_server(
                a.store,
                host=a.host,
                port=a.port,
                admin_token=a.admin_token,
                token_file=a.token_file,
                embedder=embedder,
                index_dir=a.index_dir,
            )
        )
    except OSError as exc:
        raise CommandFailed(f"cannot serve on {a.host}:{a.port}: {exc.strerror or exc}") from exc


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on asyncio's own loop.

    Not uvloop: with gRPC's asyncio driver (the etcd store) it cost the server about
    45% more CPU per request here (measured with bench/comm_bench.py's write phase).
    """
    asyncio.run(main)


def demo(ctx: Context) -> None:
    """Show the KV seam at work."""
    from nucleusmem.cli._demo import demo as run_demo

    asyncio.run(run_demo(ctx.args.store))


# principals ----------------------------------------------------------------------------
def whoami(ctx: Context) -> None:
    """Show the principal this client acts as."""
    info = ctx.client.whoami()
    ctx.show(info, info.name + (" (admin)" if info.admin else ""))


def principal_create(ctx: Context) -> None:
    """Create a principal; print its token."""
    token = ctx.client.create_principal(ctx.args.name, admin=ctx.args.admin)
    ctx.show({"principal": ctx.args.name, "token": token}, token)


def principal_token(ctx: Context) -> None:
    """Issue another token for a principal."""
    token = ctx.client.issue_token(ctx.args.name)
    ctx.show({"principal": ctx.args.name, "token": token}, token)


# spaces --------------------------------------------------------------------------------
def space_create(ctx: Context) -> None:
    """Create a space."""
    a = ctx.args
    info = ctx.client.create_space(
        a.name,
        kind=a.kind,
        members=dict(a.member),
        quota_bytes=a.quota_bytes,
        history_retention_s=a.retention_s,
        description=a.description,
    )
    ctx.show(info, fmt.space_fields(info))


def space_ls(ctx: Context) -> None:
    """List the spaces this principal can read."""
    spaces = ctx.client.spaces()
    rows = [
        [
            s.name,
            s.kind.value,
            s.owner,
            ",".join(f"{p}={m.value}" for p, m in sorted(s.members.items())) or "-",
            s.used_bytes,
            s.quota_bytes,
            s.description,
        ]
        for s in spaces
    ]
    headers = ["SPACE", "KIND", "OWNER", "MEMBERS", "USED", "QUOTA", "DESCRIPTION"]
    ctx.show(spaces, fmt.table(headers, rows) if rows else "no spaces")


def space_info(ctx: Context) -> None:
    """Show one space."""
    info = ctx.client.space(ctx.args.name).info()
    ctx.show(info, fmt.space_fields(info))


def space_rm(ctx: Context) -> None:
    """Delete a space."""
    ctx.client.delete_space(ctx.args.name)
    ctx.show({"deleted": ctx.args.name}, f"deleted space {ctx.args.name}")


def space_member(ctx: Context) -> None:
    """Add, change or remove a member."""
    a = ctx.args
    mode = None if a.mode == "none" else a.mode
    info = ctx.client.space(a.name).set_member(a.principal, mode)
    ctx.show(info, fmt.space_fields(info))


def space_recall(ctx: Context) -> None:
    """Change a space's embedder or indexing policy."""
    a = vars(ctx.args)
    changes: dict[str, object] = {}
    if "embedder" in a:
        changes["embedder"] = None if a["embedder"] == "default" else a["embedder"]
    for name in ("min_chars", "short_error_chars", "near_duplicate_cosine"):
        if name in a:
            changes[name] = a[name]
    for name in ("skip_greetings", "skip_tool_json"):
        if name in a:
            changes[name] = a[name] == "on"
    info = ctx.client.space(ctx.args.name).set_recall(**changes)
    ctx.show(info.recall, fmt.fields(list(info.recall.model_dump().items())))


def space_index(ctx: Context) -> None:
    """Show a space's search index on the server, and any rebuild under way."""
    status = ctx.client.space(ctx.args.name).index_status()
    ctx.show(status, fmt.fields(list(status.model_dump(exclude={"settings"}).items())))


# mounts --------------------------------------------------------------------------------
def mount(ctx: Context) -> None:
    """Mount a space for an agent."""
    a = ctx.args
    mounted = ctx.client.agent(a.agent).mount(a.space, a.mode)
    mode = mounted.mode.value if mounted.mode else a.mode
    data = {"agent": a.agent, "space": a.space, "mode": mode}
    ctx.show(data, f"{a.agent} mounted {a.space} ({mode})")


def unmount(ctx: Context) -> None:
    """Unmount a space from an agent."""
    a = ctx.args
    ctx.client.agent(a.agent).unmount(a.space)
    ctx.show({"agent": a.agent, "space": a.space}, f"{a.agent} unmounted {a.space}")


def mounts(ctx: Context) -> None:
    """List an agent's mounts."""
    found = ctx.client.agent(ctx.args.agent).mounts()
    rows = [[m.space, m.mode.value, fmt.moment(m.mounted_at)] for m in found]
    ctx.show(found, fmt.table(["SPACE", "MODE", "MOUNTED"], rows) if rows else "no mounts")


# records -------------------------------------------------------------------------------
def put(ctx: Context) -> None:
    """Write a record."""
    a = ctx.args
    content = sys.stdin.read() if a.content == "-" else a.content
    record = ctx.space().put(
        a.key,
        content,
        metadata=dict(a.meta),
        kind=a.kind,
        agent=a.agent,
        thread=a.thread,
        region=a.region,
    )
    text = f"rev {record.revision}  {a.region}/{record.key}  version {record.version}"
    ctx.show(record, text)


def get(ctx: Context) -> None:
    """Print a record's content."""
    a = ctx.args
    record = ctx.space().get(a.key, region=a.region, at=a.at)
    ctx.show(record, record.content)


def rm(ctx: Context) -> None:
    """Delete a record."""
    a = ctx.args
    revision = ctx.space().delete(a.key, region=a.region)
    ctx.show({"key": a.key, "revision": revision}, f"rev {revision}  deleted {a.region}/{a.key}")


def ls(ctx: Context) -> None:
    """List records."""
    a = ctx.args
    if a.limit is not None and a.limit < 1:
        raise UsageError("--limit must be at least 1")
    found = []
    records = ctx.space().iter(
        region=a.region, prefix=a.prefix, agent=a.agent, kind=a.kind, thread=a.thread, at=a.at
    )
    for record in records:
        found.append(record)
        if a.limit is not None and len(found) >= a.limit:
            break
    headers = ["KEY", "REV", "VER", "TIME", "AGENT", "KIND", "CONTENT"]
    rows = [fmt.record_row(r) for r in found]
    ctx.show(found, fmt.table(headers, rows) if rows else "no records")


def history(ctx: Context) -> None:
    """List a record's versions."""
    a = ctx.args
    versions = ctx.space().history(a.key, region=a.region, limit=a.limit)
    rows = [fmt.record_row(r)[1:] for r in versions]
    headers = ["REV", "VER", "TIME", "AGENT", "KIND", "CONTENT"]
    ctx.show(versions, fmt.table(headers, rows) if rows else "no history")


def diff(ctx: Context) -> None:
    """Show what changed between two points in history."""
    a = ctx.args
    changes = ctx.space().diff(a.from_at, a.to_at, region=a.region)
    text = "\n".join(fmt.change_line(c) for c in changes) or "no changes"
    ctx.show(changes, text)


# comm ----------------------------------------------------------------------------------
def register(ctx: Context) -> None:
    """Put an agent in a space's registry."""
    a = ctx.args
    entry = ctx.space().register(
        a.agent, address=a.address, role=a.role, capabilities=a.cap, ttl_s=a.ttl_s
    )
    ttl = "no expiry" if a.ttl_s is None else f"presence {a.ttl_s:g}s"
    ctx.show(entry, f"rev {entry.revision}  registered {a.agent} in {a.space} ({ttl})")


def agents(ctx: Context) -> None:
    """List a space's agents."""
    entries = ctx.space().agents(at=ctx.args.at)
    rows = [
        [e.agent, e.online, e.role, e.address, ",".join(e.capabilities), e.registered_by]
        for e in entries
    ]
    headers = ["AGENT", "ONLINE", "ROLE", "ADDRESS", "CAPABILITIES", "REGISTERED_BY"]
    ctx.show(entries, fmt.table(headers, rows) if rows else "no agents")


def subscribe(ctx: Context) -> None:
    """Set the topics an agent follows."""
    a = ctx.args
    topics = ctx.space().subscribe(a.agent, a.topics)
    ctx.show(topics, f"{a.agent} follows: {', '.join(topics) or 'no topics'}")


def send(ctx: Context) -> None:
    """Send a message."""
    a = ctx.args
    if (a.content is None) == (a.ref is None):
        raise UsageError("send takes either CONTENT or --ref KEY")
    if a.ref is not None and (a.key is not None or a.meta):
        raise UsageError("--key and --meta describe new content; they do not go with --ref")
    content = sys.stdin.read() if a.content == "-" else a.content
    message = ctx.space().send(
        a.sender,
        to=a.to,
        topic=a.topic,
        content=content,
        metadata=dict(a.meta) or None,
        key=a.key,
        ref_key=a.ref,
        ref_region=a.ref_region,
    )
    ctx.show(message, fmt.message_line(message))


def watch(ctx: Context) -> None:
    """Follow an agent's messages, printing each with its content, until interrupted."""
    a = ctx.args
    if a.count is not None and a.count < 1:
        raise UsageError("--count must be at least 1")
    space = ctx.space()
    seen = 0
    with space.listen(a.agent, after=a.after, auto_ack=a.ack) as messages:
        for message in messages:
            content = _content(space, message)
            if a.json:
                data = {"message": fmt.jsonable(message), "content": content}
                print(fmt.dumps(data, compact=True), flush=True)
            else:
                shown = "(gone)" if content is None else fmt.preview(content, 200)
                print(fmt.message_line(message, shown), flush=True)
            seen += 1
            if a.count is not None and seen >= a.count:
                break


def trace(ctx: Context) -> None:
    """Show the conversation log."""
    a = ctx.args
    log = ctx.space().trace(
        since=a.since, until=a.until, agent=a.agent, topic=a.topic, limit=a.limit
    )
    rows = [
        [m.revision, fmt.moment(m.time), m.sender, fmt.target(m), f"{m.ref_region}/{m.ref_key}"]
        for m in log
    ]
    headers = ["REV", "TIME", "FROM", "TO", "REF"]
    ctx.show(log, fmt.table(headers, rows) if rows else "no messages")


def search(ctx: Context) -> None:
    """Find records by meaning and by words, lane by lane."""
    a = ctx.args
    hits = ctx.space().search(
        a.query,
        k=a.k,
        mode=a.mode,
        agent=a.agent,
        thread=a.thread,
        resource=a.resource,
        at=a.at,
    )
    rows = [
        [f"{h.score:.3f}", h.lane, f"{h.region}/{h.key}", h.revision, fmt.preview(h.text)]
        for h in hits
    ]
    headers = ["SCORE", "LANE", "RECORD", "REV", "TEXT"]
    ctx.show(hits, fmt.table(headers, rows) if rows else "no matches")


def _content(space: Space, message: CommRecord) -> str | None:
    """The referenced record's content as it was when sent (or now, if that is gone)."""
    for at in (message.revision, None):
        try:
            return space.get(message.ref_key, region=message.ref_region, at=at).content
        except NucleusMemError:
            continue
    return None
