"""Friendly inputs to the SDK, turned into what `SpaceAPI` takes, in one place.

The SDK accepts plain strings for enums (``"memory"``, ``"rw"``, ``"shared"``), naive
datetimes as UTC, and dicts for record writes. Anything it cannot convert raises
`InvalidRequest`, the same error the space layer raises for bad input.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from nucleusmem.errors import InvalidRequest
from nucleusmem.space._api import At
from nucleusmem.space._models import DataRegion, Mode, RecordWrite, SpaceKind

__all__ = [
    "AtLike",
    "ModeLike",
    "Moment",
    "RegionLike",
    "SpaceKindLike",
    "to_point",
    "to_kind",
    "to_mode",
    "to_moment",
    "to_optional_mode",
    "to_optional_region",
    "to_region",
    "to_writes",
]

RegionLike = DataRegion | str
"""A data region, or its name: ``"memory"``, ``"task"``, ``"summary"``, ``"tools"``."""
ModeLike = Mode | str
"""A mode, or its name: ``"rw"`` or ``"ro"``."""
SpaceKindLike = SpaceKind | str
"""A space kind, or its name: ``"private"`` or ``"shared"``."""
AtLike = At
"""A point in history: a revision, a datetime (naive means UTC), or None for now."""
Moment = float | dt.datetime
"""A wall-clock moment: seconds since the epoch, or a datetime (naive means UTC)."""

_E = TypeVar("_E", bound=enum.Enum)


def _to_enum(cls: type[_E], value: _E | str, what: str) -> _E:
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(str(member.value) for member in cls)
        raise InvalidRequest(f"unknown {what} {value!r}; expected one of {choices}") from None


def to_region(value: RegionLike) -> DataRegion:
    """The `DataRegion` a value names."""
    return _to_enum(DataRegion, value, "region")


def to_optional_region(value: RegionLike | None) -> DataRegion | None:
    """The `DataRegion` a value names, or None for every region."""
    return None if value is None else to_region(value)


def to_mode(value: ModeLike) -> Mode:
    """The `Mode` a value names."""
    return _to_enum(Mode, value, "mode")


def to_optional_mode(value: ModeLike | None) -> Mode | None:
    """The `Mode` a value names, or None (which removes a member)."""
    return None if value is None else to_mode(value)


def to_kind(value: SpaceKindLike) -> SpaceKind:
    """The `SpaceKind` a value names."""
    return _to_enum(SpaceKind, value, "space kind")


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def to_point(value: AtLike) -> At:
    """A revision or an aware datetime (a naive one is taken as UTC), or None."""
    if value is None or isinstance(value, dt.datetime):
        return None if value is None else _aware(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"expected a revision (int) or a datetime, not {value!r}")
    return value


def to_moment(value: Moment | None) -> float | None:
    """Seconds since the epoch for a moment (a naive datetime is taken as UTC)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return _aware(value).timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"expected seconds since the epoch or a datetime, not {value!r}")
    return float(value)


def to_writes(
    records: Iterable[RecordWrite | Mapping[str, Any]], *, agent: str | None = None
) -> list[RecordWrite]:
    """Validate record writes; ``agent`` fills in those that name no agent."""
    writes: list[RecordWrite] = []
    for record in records:
        if isinstance(record, RecordWrite) and (agent is None or record.agent is not None):
            writes.append(record)
            continue
        fields = record.model_dump() if isinstance(record, RecordWrite) else dict(record)
        if agent is not None and fields.get("agent") is None:
            fields["agent"] = agent
        try:
            writes.append(RecordWrite.model_validate(fields))
        except ValidationError as exc:
            raise InvalidRequest(f"invalid record: {_first_error(exc)}") from exc
    return writes


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "record"
    return f"{where}: {first.get('msg', 'invalid')}"
