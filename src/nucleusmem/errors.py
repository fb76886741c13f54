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
├── ConfigurationError                 an optional driver is missing, or a bad option
├── NotFound (LookupError)             no such space, record, agent or principal
├── AlreadyExists                      a space, principal or agent id is taken
├── QuotaExceeded                      a write would take a space over its size quota
├── EmbedderUnavailable (ConnectionError) an embeddings endpoint failed or is unreachable
├── Unauthenticated (PermissionError)  no token, or a token nobody holds
└── AccessDenied (PermissionError)     the principal may not do this to this space
```

Driver errors (sqlite3, gRPC) are translated where the call is made and never reach
callers; the original is kept as ``__cause__``. Each class names the HTTP status the
server answers with (``http_status``); the remote SDK raises the same class again.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "Compacted",
    "ConfigurationError",
    "Conflict",
    "EmbedderUnavailable",
    "InvalidKey",
    "InvalidRequest",
    "InvalidRevision",
    "LeaseExpired",
    "NotFound",
    "QuotaExceeded",
    "Unauthenticated",
    "AccessDenied",
    "AlreadyExists",
    "NucleusMemError",
    "StoreUnavailable",
    "TxnTooLarge",
    "UnsupportedURL",
    "ValueTooLarge",
    "error_detail",
    "error_from_wire",
]


class NucleusMemError(Exception):
    """The root of every error NucleusMem raises."""

    http_status: ClassVar[int] = 400


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

    http_status: ClassVar[int] = 409

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

    http_status: ClassVar[int] = 410

    def __init__(self, floor: int, requested: int) -> None:
        self.floor = floor
        self.requested = requested
        super().__init__(
            f"revision {requested} is below the compaction floor {floor}; read at {floor} or later"
        )


class LeaseExpired(NucleusMemError, LookupError):
    """The lease does not exist any more: it expired or was revoked."""

    http_status: ClassVar[int] = 404

    def __init__(self, lease_id: int) -> None:
        self.lease_id = lease_id
        super().__init__(f"lease {lease_id:x} has expired or was revoked")


class StoreUnavailable(NucleusMemError, ConnectionError):
    """The store could not be reached in time.

    ``outcome_unknown`` is true for a commit that may or may not have been applied
    (the connection broke after the request was sent); read the keys to find out.
    """

    http_status: ClassVar[int] = 503

    def __init__(self, message: str, *, outcome_unknown: bool = False) -> None:
        self.outcome_unknown = outcome_unknown
        super().__init__(message)


class ConfigurationError(NucleusMemError):
    """NucleusMem is misconfigured: a driver extra is missing, or an option is invalid."""

    http_status: ClassVar[int] = 400


class NotFound(NucleusMemError, LookupError):
    """A space, record, agent or principal does not exist (or is not visible)."""

    http_status: ClassVar[int] = 404

    def __init__(self, what: str, name: str) -> None:
        self.what = what
        self.name = name
        super().__init__(f"{what} {name!r} not found")


class AlreadyExists(NucleusMemError):
    """A space, principal or agent id is already taken."""

    http_status: ClassVar[int] = 409

    def __init__(self, what: str, name: str) -> None:
        self.what = what
        self.name = name
        super().__init__(f"{what} {name!r} already exists")


class QuotaExceeded(NucleusMemError):
    """A write would take a space past its size quota; nothing was written."""

    http_status: ClassVar[int] = 413

    def __init__(self, space: str, used_bytes: int, quota_bytes: int) -> None:
        self.space = space
        self.used_bytes = used_bytes
        self.quota_bytes = quota_bytes
        super().__init__(
            f"space {space!r} would hold {used_bytes} bytes; its quota is {quota_bytes}"
        )


class EmbedderUnavailable(NucleusMemError, ConnectionError):
    """An embeddings endpoint could not be reached, or answered with an error."""

    http_status: ClassVar[int] = 503


class Unauthenticated(NucleusMemError, PermissionError):
    """The request carries no token, or a token that no principal holds."""

    http_status: ClassVar[int] = 401


class AccessDenied(NucleusMemError, PermissionError):
    """The principal is known but may not do this (``action``) to this ``space``."""

    http_status: ClassVar[int] = 403

    def __init__(self, principal: str, action: str, space: str | None = None) -> None:
        self.principal = principal
        self.action = action
        self.space = space
        where = f" on space {space!r}" if space else ""
        super().__init__(f"principal {principal!r} may not {action}{where}")


def error_detail(exc: NucleusMemError) -> dict[str, object]:
    """The data an error carries (``key``, ``revision``, ...), as JSON-ready values."""
    detail: dict[str, object] = {}
    for name, value in vars(exc).items():
        if name.startswith("_"):
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", "backslashreplace")
        if value is None or isinstance(value, str | int | float | bool):
            detail[name] = value
    return detail


def error_from_wire(
    name: str, message: str, detail: dict[str, object] | None = None
) -> NucleusMemError:
    """Rebuild the error a server reported by class name; `NucleusMemError` if unknown.

    Its data attributes come from ``detail`` (keys arrive as text, not bytes).
    """
    cls = globals().get(name)
    if not (isinstance(cls, type) and issubclass(cls, NucleusMemError)):
        cls = NucleusMemError
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    for attr, value in (detail or {}).items():
        if isinstance(attr, str) and not attr.startswith("_"):
            setattr(exc, attr, value)
    return exc


def _short(key: object, limit: int = 64) -> str:
    text = repr(key)
    return text if len(text) <= limit else text[: limit - 3] + "..."
