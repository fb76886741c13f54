"""Plain-text output for the CLI: aligned tables, times, previews, and JSON."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from nucleusmem.space._models import Change, ChangeType, CommRecord, Record, SpaceInfo

__all__ = [
    "change_line",
    "dumps",
    "fields",
    "jsonable",
    "message_line",
    "moment",
    "preview",
    "record_row",
    "space_fields",
    "table",
    "target",
]

_CHANGE_MARK = {ChangeType.ADDED: "+", ChangeType.MODIFIED: "~", ChangeType.DELETED: "-"}


def jsonable(value: Any) -> Any:
    """``value`` with pydantic models turned into JSON-ready dicts, recursively."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def dumps(value: Any, *, compact: bool = False) -> str:
    """``value`` as JSON: indented, or on one line (one object per line when streaming)."""
    if compact:
        return json.dumps(jsonable(value), ensure_ascii=False, separators=(",", ":"))
    return json.dumps(jsonable(value), ensure_ascii=False, indent=2)


def moment(seconds: float) -> str:
    """Seconds since the epoch as an ISO time in UTC, to the second."""
    when = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def preview(text: str, width: int = 60) -> str:
    """``text`` on one line, cut to ``width`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Rows under headers, each column as wide as its widest cell; the last one ragged."""
    cells = [[str(h) for h in headers], *([_cell(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, object]]) -> str:
    """``name: value`` lines with the values aligned."""
    width = max((len(name) for name, _ in pairs), default=0) + 1
    return "\n".join(f"{(name + ':').ljust(width)} {_cell(value)}" for name, value in pairs)


def space_fields(info: SpaceInfo) -> str:
    """A space's settings and usage, one per line."""
    members = ", ".join(f"{p}={m.value}" for p, m in sorted(info.members.items()))
    return fields(
        [
            ("space", info.name),
            ("kind", info.kind.value),
            ("owner", info.owner),
            ("members", members or "-"),
            ("used_bytes", info.used_bytes),
            ("quota_bytes", info.quota_bytes if info.quota_bytes is not None else "unlimited"),
            (
                "retention_s",
                info.history_retention_s if info.history_retention_s is not None else "forever",
            ),
            ("description", info.description or "-"),
            ("created", moment(info.created_at) if info.created_at else "-"),
            ("revision", info.revision),
        ]
    )


def target(message: CommRecord) -> str:
    """Whom a message is for: an agent, or ``#topic``."""
    return message.to if message.to is not None else f"#{message.topic}"


def message_line(message: CommRecord, content: str | None = None) -> str:
    """One message on one line: revision, time, sender -> target, reference, content."""
    line = (
        f"{message.revision:>6}  {moment(message.time)}  {message.sender} -> {target(message)}"
        f"  {message.ref_region.value}/{message.ref_key}"
    )
    return line if content is None else f"{line}  {content}"


def change_line(change: Change) -> str:
    """One changed record: ``+``/``~``/``-``, its key, the revisions, the new content."""
    where = f"{_CHANGE_MARK[change.type]} {change.region.value}/{change.key}"
    before, after = change.before, change.after
    if after is None:
        return f"{where}  (was rev {before.revision if before else '?'})"
    revs = (
        f"rev {after.revision}" if before is None else f"rev {before.revision} -> {after.revision}"
    )
    return f"{where}  {revs}  {preview(after.content)}"


def record_row(record: Record) -> list[object]:
    """A record as a row: key, revision, version, time, agent, kind, content preview."""
    return [
        record.key,
        record.revision,
        record.version,
        moment(record.time),
        record.agent or "-",
        record.kind or "-",
        "(deleted)" if record.deleted else preview(record.content),
    ]


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
