"""The exceptions NucleusMem raises, one tree for every layer.

```
NucleusMemError
├── InvalidRequest (ValueError)        bad input; the caller must change the call
│   ├── InvalidKey                     empty, oversized, reserved or non-bytes key
│   ├── ValueTooLarge                  value over the store's limit
│   ├── TxnTooLarge                    more operations in one commit than allowed
│   ├── InvalidRevision                a revision in the future, or not positive
│   └── UnsupportedURL                 a store URL whose scheme or form is unknown
├── Conflict                           optimistic commit lost a race
├── Compacted                          a read or watch below the compaction floor
├── LeaseExpired (LookupError)         the lease is gone (expired or revoked)
├── StoreUnavailable (ConnectionError) the store cannot be reached
└── ConfigurationError                 an optional driver is missing, or a bad option
```

Driver errors (sqlite3, gRPC) are translated where the call is made and never reach
callers; the original is kept as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "Compacted",
    "ConfigurationError",
    "Conflict",
    "InvalidKey",
    "InvalidRequest",
    "InvalidRevision",
    "LeaseExpired",
    "NucleusMemError",
    "StoreUnavailable",
    "TxnTooLarge",
    "UnsupportedURL",
    "ValueTooLarge",
]


class NucleusMemError(Exception):
    """The root of every error NucleusMem raises."""


class InvalidRequest(NucleusMemError, ValueError):
    """The request is malformed; retrying it unchanged cannot succeed."""


class InvalidKey(InvalidRequest):
    """A key is empty, too long, reserved, or not bytes."""

    def __init__(self, key: object, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"invalid key {_short(key)}: {reason}")


class ValueTooLarge(InvalidRequest):
    """A value is larger than the store accepts."""

    def __init__(self, key: bytes, size: int, limit: int) -> None:
        self.key = key
        self.size = size
        self.limit = limit
        super().__init__(f"value for key {_short(key)} is {size} bytes; the limit is {limit}")


class TxnTooLarge(InvalidRequest):
    """A commit holds more operations than the store accepts in one transaction."""

    def __init__(self, operations: int, limit: int) -> None:
        self.operations = operations
        self.limit = limit
        super().__init__(f"a commit holds {operations} operations; the limit is {limit}")


class InvalidRevision(InvalidRequest):
    """A revision is not positive, or lies in the future."""

    def __init__(self, revision: int, head: int | None, reason: str) -> None:
        self.revision = revision
        self.head = head
        super().__init__(f"invalid revision {revision}: {reason}")


class UnsupportedURL(InvalidRequest):
    """A store URL has an unknown scheme or cannot be parsed."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(f"unsupported store URL {url!r}: {reason}")


class Conflict(NucleusMemError):
    """An optimistic commit failed: a key it read or writes changed after its snapshot.

    ``key`` is the first key found changed, ``revision`` its current mod revision
    (0 when it no longer exists) and ``snapshot`` the revision the transaction read at.
    """

    def __init__(self, key: bytes, revision: int, snapshot: int | None) -> None:
        self.key = key
        self.revision = revision
        self.snapshot = snapshot
        super().__init__(
            f"conflict on key {_short(key)}: now at revision {revision}, "
            f"transaction snapshot {snapshot}"
        )


class Compacted(NucleusMemError):
    """History below ``floor`` has been compacted away; ``requested`` is below it."""

    def __init__(self, floor: int, requested: int) -> None:
        self.floor = floor
        self.requested = requested
        super().__init__(
            f"revision {requested} is below the compaction floor {floor}; read at {floor} or later"
        )


class LeaseExpired(NucleusMemError, LookupError):
    """The lease does not exist any more: it expired or was revoked."""

    def __init__(self, lease_id: int) -> None:
        self.lease_id = lease_id
        super().__init__(f"lease {lease_id:x} has expired or was revoked")


class StoreUnavailable(NucleusMemError, ConnectionError):
    """The store could not be reached in time.

    ``outcome_unknown`` is true for a commit that may or may not have been applied
    (the connection broke after the request was sent); read the keys to find out.
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False) -> None:
        self.outcome_unknown = outcome_unknown
        super().__init__(message)


class ConfigurationError(NucleusMemError):
    """NucleusMem is misconfigured: a driver extra is missing, or an option is invalid."""


def _short(key: object, limit: int = 64) -> str:
    text = repr(key)
    return text if len(text) <= limit else text[: limit - 3] + "..."
