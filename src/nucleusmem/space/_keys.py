"""Where the space layer keeps things in the KV store (documented in docs/memspace.md).

Every key starts with ``nm/`` and a one-letter table, so each kind of thing is one
prefix that can be ranged or watched on its own:

```
nm/p/<principal>                   principal (name, admin flag)
nm/t/<sha256 of token>             token -> principal
nm/s/<space>                       space settings (kind, owner, members, quota, ...)
nm/u/<space>                       bytes the space holds (decimal)
nm/d/<space>/<region>/<key>        a record in a data region
nm/c/<space>/<channel>/<id>        a comm record; channel is @<agent> or #<topic>
nm/r/<space>/<agent>               registry entry
nm/l/<space>/<agent>               presence, attached to a lease
nm/f/<space>/<agent>               the topics an agent follows
nm/k/<space>/<agent>               an agent's cursor: the last revision it acknowledged
nm/a/<agent>                       which principal an agent id belongs to
nm/m/<agent>/<space>               a mount
```
"""

from __future__ import annotations

__all__ = ["COMM_ROOT", "K", "channel_of", "parse_comm_key"]

COMM_ROOT = b"nm/c/"
"""The prefix the per-node watcher follows."""


class K:
    """Key builders; names and keys are validated before they get here."""

    @staticmethod
    def principal(name: str) -> bytes:
        """A principal's record."""
        return b"nm/p/" + name.encode()

    @staticmethod
    def token(digest: str) -> bytes:
        """A token's hash -> principal."""
        return b"nm/t/" + digest.encode()

    @staticmethod
    def space(space: str = "") -> bytes:
        """A space's settings; with no name, the prefix of all spaces."""
        return b"nm/s/" + space.encode()

    @staticmethod
    def usage(space: str) -> bytes:
        """The byte count of a space."""
        return b"nm/u/" + space.encode()

    @staticmethod
    def data(space: str, region: str | None = None, key: str = "") -> bytes:
        """A record, or the prefix of a region, or of every region with region None."""
        if region is None:
            return b"nm/d/%s/" % space.encode()
        return b"nm/d/%s/%s/%s" % (space.encode(), region.encode(), key.encode())

    @staticmethod
    def comm(space: str, channel: str | None = None, msg_id: str = "") -> bytes:
        """A comm record, a channel's prefix, or with channel None the space's log."""
        if channel is None:
            return COMM_ROOT + space.encode() + b"/"
        return b"%s%s/%s/%s" % (COMM_ROOT, space.encode(), channel.encode(), msg_id.encode())

    @staticmethod
    def registry(space: str, agent: str = "") -> bytes:
        """A registry entry, or the registry's prefix."""
        return b"nm/r/%s/%s" % (space.encode(), agent.encode())

    @staticmethod
    def presence(space: str, agent: str = "") -> bytes:
        """A presence key, or the prefix of a space's presence keys."""
        return b"nm/l/%s/%s" % (space.encode(), agent.encode())

    @staticmethod
    def topics(space: str, agent: str) -> bytes:
        """The topics an agent follows."""
        return b"nm/f/%s/%s" % (space.encode(), agent.encode())

    @staticmethod
    def cursor(space: str, agent: str) -> bytes:
        """An agent's acknowledged revision."""
        return b"nm/k/%s/%s" % (space.encode(), agent.encode())

    @staticmethod
    def agent(agent: str) -> bytes:
        """The principal an agent id belongs to."""
        return b"nm/a/" + agent.encode()

    @staticmethod
    def mount(agent: str, space: str = "") -> bytes:
        """A mount, or the prefix of an agent's mounts."""
        return b"nm/m/%s/%s" % (agent.encode(), space.encode())

    @staticmethod
    def space_prefixes(space: str) -> list[bytes]:
        """Every prefix holding something of ``space`` (for deletion)."""
        s = space.encode()
        return [b"nm/%s/%s/" % (t, s) for t in (b"d", b"c", b"r", b"l", b"f", b"k")]


def channel_of(to: str | None, topic: str | None) -> str:
    """The channel a message travels on: ``@agent`` or ``#topic``."""
    return f"@{to}" if to is not None else f"#{topic}"


def parse_comm_key(key: bytes) -> tuple[str, str] | None:
    """(space, channel) of a comm record key, or None if it is not one."""
    parts = key[len(COMM_ROOT) :].split(b"/", 2)
    if len(parts) != 3:
        return None
    return parts[0].decode(), parts[1].decode()
