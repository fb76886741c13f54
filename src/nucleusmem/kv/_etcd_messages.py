"""Building and reading etcd's protobuf messages, for the etcd backend."""

from __future__ import annotations

from typing import Any

from nucleusmem.errors import Compacted, InvalidRevision
from nucleusmem.kv._types import Event, EventType, KeyValue, Version, prefix_end

try:
    from aetcd import rpc
except ImportError:  # pragma: no cover - exercised only without the extra
    rpc = None

__all__ = [
    "_NOT_APPLIED",
    "_TO_THE_END",
    "_USER_START",
    "_check_floor",
    "_compare_mod",
    "_compare_value",
    "_decode_int",
    "_delete",
    "_encode_int",
    "_event",
    "_future",
    "_header_revision",
    "_kv",
    "_not_applied",
    "_put",
    "_range_op",
    "_retryable",
    "_user_range",
    "_version",
]

_USER_START = b"\x01"
_TO_THE_END = b"\x00"  # etcd's range_end for "every key from here on"
_NOT_APPLIED = (
    "no leader",
    "not leader",
    "not capable",
    "too many requests",
    "unhealthy cluster",
    "failed to connect",
    "connection refused",
    "proposal dropped",
)
_MOD = rpc.Compare.MOD if rpc is not None else 0
_RESULTS = {
    name: getattr(rpc.Compare, name) if rpc is not None else 0
    for name in ("EQUAL", "LESS", "GREATER")
}


def _future(revision: int, head: int) -> InvalidRevision:
    return InvalidRevision(revision, head, f"it is in the future; the store is at {head}")


def _check_floor(floor_range: Any, revision: int) -> None:
    kvs = floor_range.response_range.kvs
    floor = _decode_int(kvs[0].value) if kvs else 0
    if revision < floor:
        raise Compacted(floor, revision)


def _retryable(code: Any, details: str) -> bool:
    if code.name in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "UNKNOWN", "CANCELLED", "INTERNAL"):
        return True  # the connection or the member failed; another one may serve
    return code.name == "RESOURCE_EXHAUSTED" and "too many requests" in details


def _not_applied(details: str) -> bool:
    lowered = details.lower()
    return any(marker in lowered for marker in _NOT_APPLIED)


def _header_revision(reply: Any) -> int:
    header = getattr(reply, "header", None)
    return int(header.revision) if header is not None else 0


def _user_range(prefix: bytes) -> tuple[bytes, bytes]:
    """etcd's [key, range_end) for the user keys under ``prefix``."""
    return prefix or _USER_START, prefix_end(prefix) or _TO_THE_END


def _encode_int(value: int) -> bytes:
    return b"%020d" % value  # fixed width: etcd compares values as bytes


def _decode_int(value: bytes) -> int:
    return int(value or b"0")


def _put(key: bytes, value: bytes, lease: int | None = None) -> Any:
    if lease:
        return rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value, lease=lease))
    return rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value))


def _delete(key: bytes) -> Any:
    return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key))


def _range_op(
    key: bytes,
    range_end: bytes = b"",
    *,
    values: bool = False,
    revision: int = 0,
    min_mod_revision: int = 0,
) -> Any:
    request = rpc.RangeRequest(
        key=key,
        range_end=range_end,
        keys_only=not values,
        revision=revision,
        min_mod_revision=min_mod_revision,
    )
    return rpc.RequestOp(request_range=request)


def _compare_value(key: bytes, result: str, value: bytes) -> Any:
    return rpc.Compare(
        key=key, target=rpc.Compare.VALUE, result=getattr(rpc.Compare, result), value=value
    )


def _compare_mod(key: bytes, result: str, revision: int, range_end: bytes = b"") -> Any:
    if range_end:
        return rpc.Compare(
            key=key,
            range_end=range_end,
            target=rpc.Compare.MOD,
            result=getattr(rpc.Compare, result),
            mod_revision=revision,
        )
    # the common case, once per key of every commit: fewer fields to set
    return rpc.Compare(key=key, target=_MOD, result=_RESULTS[result], mod_revision=revision)


def _kv(kv: Any) -> KeyValue:
    return KeyValue(
        kv.key,
        kv.value,
        int(kv.mod_revision),
        int(kv.create_revision),
        int(kv.version),
        int(kv.lease) or None,
    )


def _version(event: Any, when: float) -> Version:
    deleted = event.type == rpc.Event.DELETE
    return Version(event.kv.key, event.kv.value, int(event.kv.mod_revision), when, deleted)


def _event(event: Any) -> Event:
    if event.type == rpc.Event.DELETE:
        return Event(EventType.DELETE, event.kv.key, b"", int(event.kv.mod_revision))
    return Event(
        EventType.PUT,
        event.kv.key,
        event.kv.value,
        int(event.kv.mod_revision),
        int(event.kv.lease) or None,
    )
