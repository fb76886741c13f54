"""Value objects of the KV seam: what goes into a commit and what comes out of reads."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from nucleusmem.errors import InvalidKey, TxnTooLarge, ValueTooLarge

__all__ = [
    "RESERVED_PREFIX",
    "Delete",
    "Event",
    "EventType",
    "KeyValue",
    "Limits",
    "Progress",
    "Put",
    "RangeResult",
    "Version",
    "Write",
    "prefix_end",
]

RESERVED_PREFIX = b"\x00"
"""Keys starting with this byte belong to the store itself (clocks, floors)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Sizes a store accepts; the defaults fit inside etcd's own limits."""

    max_key_bytes: int = 4096
    max_value_bytes: int = 1024 * 1024
    max_ops_per_txn: int = 127
    """etcd allows 128 operations; one is kept for the commit's clock entry."""

    def check_key(self, key: object) -> bytes:
        """Return ``key`` if it is a valid user key, else raise `InvalidKey`."""
        if not isinstance(key, bytes):
            raise InvalidKey(key, f"keys are bytes, not {type(key).__name__}")
        if not key:
            raise InvalidKey(key, "a key may not be empty")
        if len(key) > self.max_key_bytes:
            raise InvalidKey(key, f"{len(key)} bytes; the limit is {self.max_key_bytes}")
        if key.startswith(RESERVED_PREFIX):
            raise InvalidKey(key, "keys starting with NUL are reserved for the store")
        return key

    def check_prefix(self, prefix: object) -> bytes:
        """Return ``prefix`` if it may name a range of user keys (it may be empty)."""
        if not isinstance(prefix, bytes):
            raise InvalidKey(prefix, f"prefixes are bytes, not {type(prefix).__name__}")
        if len(prefix) > self.max_key_bytes:
            raise InvalidKey(prefix, f"{len(prefix)} bytes; the limit is {self.max_key_bytes}")
        if prefix.startswith(RESERVED_PREFIX):
            raise InvalidKey(prefix, "keys starting with NUL are reserved for the store")
        return prefix

    def check_writes(self, writes: tuple[Write, ...]) -> None:
        """Validate a commit's writes: keys, value sizes, count, no key twice."""
        if len(writes) > self.max_ops_per_txn:
            raise TxnTooLarge(len(writes), self.max_ops_per_txn)
        seen: set[bytes] = set()
        max_key, max_value = self.max_key_bytes, self.max_value_bytes
        for write in writes:  # the hot path of batched commits: plain checks inline
            kind = type(write)
            if kind is not Put and kind is not Delete:
                raise TypeError(f"a write is a Put or a Delete, not {kind.__name__}")
            key = write.key
            if type(key) is not bytes or not key or len(key) > max_key or key[0] == 0:
                self.check_key(key)
            if key in seen:
                raise InvalidKey(key, "written twice in one commit")
            seen.add(key)
            if kind is Put:
                value = write.value  # type: ignore[union-attr]
                if type(value) is not bytes:
                    raise InvalidKey(key, f"values are bytes, not {type(value).__name__}")
                if len(value) > max_value:
                    raise ValueTooLarge(key, len(value), max_value)


def prefix_end(prefix: bytes) -> bytes | None:
    """The first key after every key that starts with ``prefix``; None means no end."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class Put(NamedTuple):
    """Set ``key`` to ``value``; with ``lease`` the key is deleted when the lease ends.

    Writes are named tuples: batches build many of them, and a tuple is built ten times
    faster than a frozen dataclass.
    """

    key: bytes
    value: bytes
    lease: int | None = None


class Delete(NamedTuple):
    """Delete ``key``; deleting a missing key is a no-op that still commits."""

    key: bytes


Write = Put | Delete


@dataclass(frozen=True, slots=True)
class KeyValue:
    """A live key as of some revision.

    ``revision`` is the revision that last modified it, ``create_revision`` the one that
    created this incarnation, ``version`` counts puts since creation (1 when new).
    """

    key: bytes
    value: bytes
    revision: int
    create_revision: int
    version: int
    lease: int | None = None


@dataclass(frozen=True, slots=True)
class RangeResult:
    """Keys under a prefix as of ``revision``, in key order; ``more`` if cut by a limit."""

    items: list[KeyValue]
    revision: int
    more: bool = False


class EventType(enum.Enum):
    """What a watch event did to its key."""

    PUT = "put"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Event:
    """One change seen by a watch. ``value`` is empty for deletes."""

    type: EventType
    key: bytes
    value: bytes
    revision: int
    lease: int | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """A watch's progress marker: every event up to ``revision`` came before it.

    That is, every event under the watch's prefix with a revision <= ``revision`` has
    been delivered before this marker. Commits outside the prefix advance it too, so a
    consumer learns that it has caught up with the store's head even when the last
    commits were elsewhere.
    """

    revision: int


@dataclass(frozen=True, slots=True)
class Version:
    """One entry of a key's history: a put (``deleted`` false) or a delete.

    ``time`` is the wall-clock commit time in seconds since the epoch.
    """

    key: bytes
    value: bytes
    revision: int
    time: float
    deleted: bool = False
