"""How records, comm records and settings are encoded as KV values (compact JSON)."""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any

from nucleusmem.errors import InvalidRequest, ValueTooLarge
from nucleusmem.kv import KeyValue
from nucleusmem.space._models import (
    MAX_CONTENT_BYTES,
    MAX_METADATA_BYTES,
    CommRecord,
    DataRegion,
    Record,
    RecordWrite,
    trusted_record,
)

__all__ = [
    "decode_comm",
    "decode_record",
    "deleted_record",
    "dumps",
    "encode_comm",
    "encode_record",
    "loads",
]


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def loads(value: bytes) -> Any:
    """Parse JSON bytes written by `dumps`."""
    return json.loads(value)


def encode_record(write: RecordWrite, time: float) -> bytes:
    """The stored value of a record; refuses content or metadata over the limits."""
    try:
        return _encode_record(write, time)
    except UnicodeEncodeError as exc:
        raise InvalidRequest(f"record {write.key!r} holds text that is not UTF-8: {exc}") from None


def _encode_record(write: RecordWrite, time: float) -> bytes:
    content = _string(write.content)
    if len(content) > MAX_CONTENT_BYTES and len(write.content.encode()) > MAX_CONTENT_BYTES:
        raise ValueTooLarge(write.key.encode(), len(write.content.encode()), MAX_CONTENT_BYTES)
    # Written by hand: this runs for every record, and json.dumps of a dict is slower.
    parts = [b'{"c":', content, b',"w":', repr(float(time)).encode()]
    if write.metadata:
        try:
            metadata = dumps(write.metadata)
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(f"metadata of {write.key!r} is not JSON: {exc}") from exc
        if len(metadata) > MAX_METADATA_BYTES:
            raise ValueTooLarge(write.key.encode(), len(metadata), MAX_METADATA_BYTES)
        parts += [b',"m":', metadata]
    for short, field in ((b"k", write.kind), (b"a", write.agent), (b"t", write.thread)):
        if field is not None:
            parts += [b',"', short, b'":', _string(field)]
    parts.append(b"}")
    return b"".join(parts)


def _string(text: str) -> bytes:
    return encode_basestring(text).encode()


def decode_record(space: str, region: DataRegion, key: str, kv: KeyValue) -> Record:
    """A `Record` from its KV entry."""
    value = loads(kv.value)
    return trusted_record(
        dict(
            space=space,
            region=region,
            key=key,
            content=value["c"],
            metadata=value.get("m", {}),
            kind=value.get("k"),
            agent=value.get("a"),
            thread=value.get("t"),
            revision=kv.revision,
            created_revision=kv.create_revision,
            version=kv.version,
            time=value["w"],
            deleted=False,
        )
    )


def deleted_record(
    space: str, region: DataRegion, key: str, revision: int, time: float, created: int, version: int
) -> Record:
    """The tombstone of a record in its history."""
    return trusted_record(
        dict(
            space=space,
            region=region,
            key=key,
            content="",
            metadata={},
            kind=None,
            agent=None,
            thread=None,
            revision=revision,
            created_revision=created,
            version=version,
            time=time,
            deleted=True,
        )
    )


def encode_comm(record: CommRecord) -> bytes:
    """The stored value of a comm record (revision is the KV's own)."""
    value: dict[str, Any] = {
        "id": record.id,
        "s": record.sender,
        "k": record.ref_key,
        "r": record.ref_region.value,
        "w": record.time,
    }
    if record.to is not None:
        value["to"] = record.to
    if record.topic is not None:
        value["tp"] = record.topic
    return dumps(value)


def decode_comm(space: str, value: bytes, revision: int) -> CommRecord:
    """A `CommRecord` from its stored value and revision; ValueError if unreadable."""
    try:
        v = loads(value)
        return CommRecord.model_construct(
            id=v["id"],
            space=space,
            sender=v["s"],
            to=v.get("to"),
            topic=v.get("tp"),
            ref_key=v["k"],
            ref_region=DataRegion(v["r"]),
            time=v["w"],
            revision=revision,
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"bad comm record: {exc}") from exc
