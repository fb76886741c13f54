"""`KnownVersions`: what this node last saw of the keys it writes, to skip a read.

A write must know the current version of the keys it touches (for the byte counter,
a record's version, and the condition of its commit). Reading them costs a round trip
to the store; most of the time this node wrote them itself and already knows. So a
write first trusts this cache, and takes keys it never saw as absent; its commit is
conditional on exactly those versions, so a wrong guess costs a `Conflict` and one
retry that reads, never a wrong result. A space whose writes keep guessing wrong
(they update keys this node did not write) is read first for a while.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence

from nucleusmem.kv import KeyValue, Put, Write

__all__ = ["KnownVersions"]

_DISTRUST_WRITES = 16


class KnownVersions:
    """A bounded map of key -> the version last seen (None: absent)."""

    def __init__(self, *, max_keys: int = 50_000, max_value_bytes: int = 4096) -> None:
        # key -> (revision, create_revision, version, value), or None for absent
        self._kvs: dict[bytes, tuple[int, int, int, bytes] | None] = {}
        self._max_keys = max_keys
        self._max_value_bytes = max_value_bytes
        self._distrust: dict[str, int] = {}

    def trusted(self, space: str) -> bool:
        """Whether writes to ``space`` should try the cache first."""
        left = self._distrust.get(space)
        if not left:
            return True
        if left == 1:
            del self._distrust[space]
        else:
            self._distrust[space] = left - 1
        return False

    def distrust(self, space: str) -> None:
        """Read before writing to ``space`` for the next few writes."""
        self._distrust[space] = _DISTRUST_WRITES

    def lookup(
        self, keys: Sequence[bytes], may_be_absent: Collection[bytes]
    ) -> list[KeyValue | None] | None:
        """The known versions of ``keys``, unseen ones of ``may_be_absent`` as None.

        None if some other key is unknown (then read the store).
        """
        found: list[KeyValue | None] = []
        for key in keys:
            if key in self._kvs:
                known = self._kvs[key]
                found.append(None if known is None else KeyValue(key, known[3], *known[:3]))
            elif key in may_be_absent:
                found.append(None)
            else:
                return None
        return found

    def forget(self, keys: Sequence[bytes]) -> None:
        """Drop what is known of ``keys`` (a commit found one of them changed)."""
        for key in keys:
            self._kvs.pop(key, None)

    def remember(
        self, writes: Sequence[Write], olds: Sequence[KeyValue | None], revision: int
    ) -> None:
        """Record the versions ``writes`` created at ``revision`` over ``olds``."""
        for write, old in zip(writes, olds, strict=True):
            if isinstance(write, Put):
                if old is None:
                    self._put(write.key, (revision, revision, 1, write.value))
                else:
                    known = (revision, old.create_revision, old.version + 1, write.value)
                    self._put(write.key, known)
            else:
                self._put(write.key, None)

    def remember_reads(self, keys: Sequence[bytes], found: Sequence[KeyValue | None]) -> None:
        """Record versions read (and proven current by a commit)."""
        for key, kv in zip(keys, found, strict=True):
            known = None if kv is None else (kv.revision, kv.create_revision, kv.version, kv.value)
            self._put(key, known)

    def _put(self, key: bytes, known: tuple[int, int, int, bytes] | None) -> None:
        if known is not None and len(known[3]) > self._max_value_bytes:
            self._kvs.pop(key, None)
            return
        self._kvs.pop(key, None)  # re-inserted: the newest at the end
        self._kvs[key] = known
        if len(self._kvs) > self._max_keys:  # drop the oldest tenth at once
            for old in list(itertools.islice(self._kvs, self._max_keys // 10)):
                del self._kvs[old]
