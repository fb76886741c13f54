"""The ``nucleusmem`` command line: every command and option, and how values are read.

Global options (``--url``, ``--token``, ``--principal``, ``--json``) may come before
or after the command. Each command names its handler in `_commands`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import time
from collections.abc import Sequence

from nucleusmem import __version__
from nucleusmem.cli import _commands as cmd

__all__ = [
    "DEFAULT_URL",
    "build_parser",
    "parse_args",
    "parse_at",
    "parse_moment",
    "parse_pair",
]

DEFAULT_URL = "http://127.0.0.1:8765"
"""Where the CLI looks for a server unless ``--url`` or ``NUCLEUSMEM_URL`` says otherwise."""

_DESCRIPTION = """\
NucleusMem: versioned MemSpaces that agents mount, share and talk through.

--url names a server (http://host:port) or a store to open in-process
(sqlite:///path.db, etcd://host:port, memory://). Reads take --at REV or --at ISO-TIME
to see the space as it was. Times without a zone are UTC.
"""
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_at(text: str) -> int | dt.datetime:
    """``--at``: a revision (an integer) or an ISO time (UTC unless it names a zone)."""
    if text.isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a revision nor an ISO time (2026-05-09T14:03:00Z)"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def parse_moment(text: str) -> float:
    """``--since``/``--until``: an ISO time, seconds since the epoch, or ``10m`` ago."""
    match = _DURATION.match(text)
    if match:
        return time.time() - float(match.group(1)) * _UNIT_S[match.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use ISO (2026-05-09T14:03:00Z), epoch seconds or 10m/2h/1d"
        ) from None
    return (when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)).timestamp()


def parse_pair(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` (``--member``, ``--meta``)."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse a command line; exits with status 2 (and usage) if it is malformed.

    An optional positional (``send``'s CONTENT) after options is taken here: Python
    3.11's argparse fills it before it sees the options, then calls it unrecognized.
    """
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        trailing: str | None = getattr(args, "trailing", None)
        if (
            trailing is None
            or getattr(args, trailing) is not None
            or len(extras) != 1
            or (extras[0].startswith("-") and extras[0] != "-")
        ):
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        setattr(args, trailing, extras[0])
    return args


def build_parser() -> argparse.ArgumentParser:
    """The ``nucleusmem`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="nucleusmem",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_globals(defaults=True)],
    )
    parser.add_argument("--version", action="version", version=f"nucleusmem {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _globals(defaults=False)

    def add(name: str, help: str, handler: cmd.Handler) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help, description=help, parents=[common])
        command.set_defaults(handler=handler)
        return command

    def group(name: str, help: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        parent = sub.add_parser(name, help=help, description=help)
        return parent.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")

    def add_to(
        actions: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        help: str,
        handler: cmd.Handler,
    ) -> argparse.ArgumentParser:
        command = actions.add_parser(name, help=help, description=help, parents=[common])
        command.set_defaults(handler=handler)
        return command

    p = add("serve", "run the HTTP server on a store", cmd.serve)
    p.add_argument("--store", default="sqlite://nucleusmem.db", help="store URL (%(default)s)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (%(default)s)")
    p.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (%(default)s)")
    p.add_argument("--admin-token", help="token for principal admin (default: a new one)")
    p.add_argument("--token-file", help="write the admin token to this file (mode 0600)")
    p.add_argument(
        "--embedder",
        choices=["hashing", "minilm", "openai"],
        default=os.environ.get("NUCLEUSMEM_EMBEDDER", "hashing"),
        help="how search embeds text (env NUCLEUSMEM_EMBEDDER; %(default)s)",
    )
    p.add_argument(
        "--index-dir",
        default="nucleusmem-index",
        help="where search indexes are saved to resume after a restart (%(default)s)",
    )
    p.add_argument("--embed-url", help="openai: the API root, e.g. http://localhost:11434/v1")
    p.add_argument("--embed-model", help="openai: the embedding model")
    p.add_argument(
        "--embed-key",
        default=os.environ.get("NUCLEUSMEM_EMBED_KEY"),
        help="openai: the API key (env NUCLEUSMEM_EMBED_KEY)",
    )
    p = add("demo", "run a short storage demo", cmd.demo)
    p.add_argument("--store", default="sqlite://nucleusmem-demo.db", help="store URL (%(default)s)")
    add("whoami", "show the principal you act as", cmd.whoami)

    principals = group("principal", "manage principals (admin)")
    p = add_to(principals, "create", "create a principal and print its token", cmd.principal_create)
    p.add_argument("name")
    p.add_argument("--admin", action="store_true", help="make it an admin")
    p = add_to(principals, "token", "issue another token for a principal", cmd.principal_token)
    p.add_argument("name")

    spaces = group("space", "create, list, inspect and delete spaces")
    p = add_to(spaces, "create", "create a space you own", cmd.space_create)
    p.add_argument("name")
    p.add_argument("--kind", choices=["shared", "private"], default="shared")
    p.add_argument(
        "--member", type=parse_pair, action="append", default=[], metavar="PRINCIPAL=MODE"
    )
    p.add_argument("--quota-bytes", type=int, help="cap on live content (default: none)")
    p.add_argument("--retention-s", type=float, help="keep history this long (default: forever)")
    p.add_argument("--description", default="")
    add_to(spaces, "ls", "list the spaces you can read", cmd.space_ls)
    p = add_to(spaces, "info", "show a space's settings and usage", cmd.space_info)
    p.add_argument("name")
    p = add_to(spaces, "rm", "delete a space and everything in it", cmd.space_rm)
    p.add_argument("name")
    p = add_to(spaces, "member", "add, change or remove a member", cmd.space_member)
    p.add_argument("name")
    p.add_argument("principal")
    p.add_argument("mode", choices=["rw", "ro", "none"])

    p = add_to(spaces, "recall", "change how a space is indexed for search", cmd.space_recall)
    p.add_argument("name")
    unset = argparse.SUPPRESS  # what is not given stays as it is
    p.add_argument("--embedder", default=unset, help="hashing, minilm, openai, or default")
    p.add_argument("--min-chars", type=_optional_int, default=unset, help="N, or off")
    p.add_argument("--short-error-chars", type=_optional_int, default=unset, help="N, or off")
    p.add_argument("--near-duplicate-cosine", type=_optional_float, default=unset, help="or off")
    for rule in ("greetings", "tool-json"):
        p.add_argument(f"--skip-{rule}", choices=["on", "off"], default=unset)
    p = add_to(spaces, "index", "show a space's search index and any rebuild", cmd.space_index)
    p.add_argument("name")

    p = add("mount", "mount a space for an agent", cmd.mount)
    p.add_argument("agent")
    p.add_argument("space")
    p.add_argument("--mode", choices=["rw", "ro"], default="rw")
    p = add("unmount", "unmount a space from an agent", cmd.unmount)
    p.add_argument("agent")
    p.add_argument("space")
    p = add("mounts", "list an agent's mounts", cmd.mounts)
    p.add_argument("agent")

    p = add("put", "write a record", cmd.put)
    _space_key(p)
    p.add_argument("content", metavar="CONTENT|-", help="the content, or - to read stdin")
    _region(p)
    p.add_argument("--kind")
    p.add_argument("--agent")
    p.add_argument("--thread")
    p.add_argument("--meta", type=parse_pair, action="append", default=[], metavar="KEY=VALUE")
    p = add("get", "print a record's content", cmd.get)
    _space_key(p)
    _region(p)
    _at(p)
    p = add("rm", "delete a record (its history stays)", cmd.rm)
    _space_key(p)
    _region(p)
    p = add("ls", "list records", cmd.ls)
    p.add_argument("space")
    _region(p)
    p.add_argument("--prefix", default="")
    p.add_argument("--agent")
    p.add_argument("--kind")
    p.add_argument("--thread")
    _at(p)
    p.add_argument("--limit", type=int, help="show at most this many (default: all)")
    p = add("history", "list a record's versions", cmd.history)
    _space_key(p)
    _region(p)
    p.add_argument("--limit", type=int, help="only the newest N versions")
    p = add("diff", "show what changed between two points in history", cmd.diff)
    p.add_argument("space")
    p.add_argument("from_at", metavar="FROM", type=parse_at, help="revision or ISO time")
    p.add_argument("to_at", metavar="TO", type=parse_at, nargs="?", help="default: now")
    p.add_argument("--region", choices=_REGIONS, help="default: every region")

    p = add("register", "put an agent in a space's registry", cmd.register)
    p.add_argument("space")
    p.add_argument("agent")
    p.add_argument("--role", default="")
    p.add_argument("--address", default="")
    p.add_argument("--cap", action="append", default=[], help="a capability (repeatable)")
    p.add_argument("--ttl-s", type=float, help="presence lasts this long (default: no expiry)")
    p = add("agents", "list a space's agents", cmd.agents)
    p.add_argument("space")
    _at(p)
    p = add("subscribe", "set the topics an agent follows", cmd.subscribe)
    p.add_argument("space")
    p.add_argument("agent")
    p.add_argument("topics", metavar="TOPIC", nargs="*")
    p = add("send", "send a message: new content, or a reference to a record", cmd.send)
    p.set_defaults(trailing="content")
    p.add_argument("space")
    p.add_argument("content", nargs="?", metavar="CONTENT|-", help="new content; - reads stdin")
    p.add_argument("--from", dest="sender", required=True, metavar="AGENT")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", metavar="AGENT")
    target.add_argument("--topic")
    p.add_argument("--ref", metavar="KEY", help="send a reference to this existing record")
    p.add_argument("--ref-region", choices=_REGIONS, default="memory")
    p.add_argument("--key", help="key for the new content (default: msg/<id>)")
    p.add_argument("--meta", type=parse_pair, action="append", default=[], metavar="KEY=VALUE")
    p = add("watch", "follow an agent's messages, with their content", cmd.watch)
    p.add_argument("space")
    p.add_argument("agent")
    p.add_argument("--after", type=int, help="start after this revision (default: cursor)")
    p.add_argument("--ack", action="store_true", help="store the cursor as messages are shown")
    p.add_argument("--count", type=int, help="stop after this many messages")
    p = add("trace", "show the conversation log", cmd.trace)
    p.add_argument("space")
    p.add_argument("--since", type=parse_moment, help="ISO time, epoch seconds, or 10m/2h/1d")
    p.add_argument("--until", type=parse_moment)
    p.add_argument("--agent", help="messages from or to this agent")
    p.add_argument("--topic")
    p.add_argument("--limit", type=int, default=1000)
    p = add("search", "find records by meaning and by words", cmd.search)
    p.add_argument("space")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=10, help="how many results (10)")
    p.add_argument("--mode", choices=["hybrid", "vector", "lexical"], default="hybrid")
    p.add_argument("--agent", help="search as this agent (its private lane included)")
    p.add_argument("--thread", help="look in this thread's lane first")
    p.add_argument("--resource", help="then in this resource's lane")
    _at(p)
    return parser


_REGIONS = ["memory", "task", "summary", "tools"]


def _optional_int(text: str) -> int | None:
    """An integer, or None for ``off``."""
    return None if text == "off" else int(text)


def _optional_float(text: str) -> float | None:
    """A number, or None for ``off``."""
    return None if text == "off" else float(text)


def _globals(*, defaults: bool) -> argparse.ArgumentParser:
    """The global options; on commands they default to SUPPRESS so either place works."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--url",
        default=default(os.environ.get("NUCLEUSMEM_URL") or DEFAULT_URL),
        help=f"server or store URL (env NUCLEUSMEM_URL; default {DEFAULT_URL})",
    )
    parser.add_argument(
        "--token",
        default=default(os.environ.get("NUCLEUSMEM_TOKEN") or None),
        help="bearer token (env NUCLEUSMEM_TOKEN)",
    )
    parser.add_argument(
        "--principal", default=default(None), help="act as this principal (embedded URLs only)"
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print JSON for machines"
    )
    return parser


def _space_key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("space")
    parser.add_argument("key")


def _region(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", choices=_REGIONS, default="memory")


def _at(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--at", type=parse_at, metavar="REV|ISO", help="read as of then")
