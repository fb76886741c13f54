"""What every route shares: the authenticated session, path and query types, ``at``.

The path types reuse the name patterns of `nucleusmem.space._models`, so a bad space,
agent or key is refused with 422 before any handler runs, and the OpenAPI schema says
exactly which names are valid.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from nucleusmem.errors import InvalidRequest
from nucleusmem.space._api import At
from nucleusmem.space._models import DataRegion, Name, RecordKey, SpaceName
from nucleusmem.space._session import Session

__all__ = [
    "ERROR_RESPONSES",
    "MAX_REVISION",
    "AgentPath",
    "AtQuery",
    "ErrorBody",
    "KeyPath",
    "NamePath",
    "RegionPath",
    "RequiredAtQuery",
    "RevisionQuery",
    "SessionDep",
    "SpacePath",
    "TimeQuery",
    "parse_at",
]

MAX_REVISION = 2**63 - 1
"""The largest revision any store hands out (a signed 64-bit integer)."""


class ErrorBody(BaseModel):
    """The body of every error answer: the error class name and its message.

    ``error`` names a class of `nucleusmem.errors`; the SDK raises that class again,
    with the data in ``detail`` (such as ``key``, ``revision``, ``space``) set on it.
    """

    error: str
    message: str
    detail: dict[str, str | int | float | bool | None] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in [
        (400, "Invalid request (InvalidRequest and its subclasses)"),
        (401, "No bearer token, or an unknown one (Unauthenticated)"),
        (403, "The principal may not do this (AccessDenied)"),
        (404, "No such space, record, agent or principal (NotFound)"),
        (409, "Already exists, or a lost race (AlreadyExists, Conflict)"),
        (410, "History below the compaction floor (Compacted)"),
        (413, "Request body or space quota too large (QuotaExceeded)"),
        (422, "The request does not match the schema (InvalidRequest)"),
        (503, "The store cannot be reached (StoreUnavailable)"),
    ]
}
"""The error answers every ``/v1`` route may give, for the OpenAPI document."""

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A principal's token, as issued by `POST /v1/principals`.",
)


async def _session(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AsyncIterator[Session]:
    """The session of the principal whose bearer token the request carries."""
    token = credentials.credentials if credentials is not None else None
    session: Session = await request.app.state.service.authenticate(token)
    try:
        yield session
    finally:
        await session.aclose()


SessionDep = Annotated[Session, Depends(_session)]
"""The authenticated session; a request without a valid token is answered 401."""

SpacePath = Annotated[SpaceName, Path(description="A space name")]
"""A space name in the path."""
NamePath = Annotated[Name, Path(description="A principal name")]
"""A principal name in the path."""
AgentPath = Annotated[Name, Path(description="An agent id")]
"""An agent id in the path."""
RegionPath = Annotated[DataRegion, Path(description="A data region")]
"""A data region in the path."""
KeyPath = Annotated[RecordKey, Path(description="A record key; may contain '/'")]
"""A record key in the path (the route declares it ``{key:path}``)."""

RevisionQuery = Annotated[int | None, Query(ge=0, le=MAX_REVISION)]
"""An optional revision in the query string."""
TimeQuery = Annotated[
    float | None,
    Query(allow_inf_nan=False, description="Seconds since the epoch"),
]
"""An optional wall-clock time in the query string."""

_YEAR = "(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_DATE = _YEAR + "-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = "([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.,][0-9]{1,6})?)?"
_OFFSET = "(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])"
_AT_PATTERN = f"^([1-9][0-9]{{0,17}}|{_DATE}([T ]{_TIME}{_OFFSET}?)?)$"
_AT_DESCRIPTION = (
    "A point in history: a revision (integer) or an ISO-8601 time "
    "(without an offset it is UTC). Omit it to read now."
)
AtQuery = Annotated[
    str | None, Query(pattern=_AT_PATTERN, max_length=64, description=_AT_DESCRIPTION)
]
"""``at`` as the client wrote it; turn it into an `At` with `parse_at`."""
RequiredAtQuery = Annotated[
    str, Query(pattern=_AT_PATTERN, max_length=64, description=_AT_DESCRIPTION)
]
"""A point in history the call cannot do without (``from_at`` of a diff)."""


def parse_at(text: str | None, *, name: str = "at") -> At:
    """A revision (digits) or an aware datetime (ISO-8601, naive = UTC), or None.

    Raises `InvalidRequest` naming the parameter for anything else.
    """
    if text is None or text == "":
        return None
    if re.fullmatch(r"[0-9]+", text):
        revision = int(text)
        if revision > MAX_REVISION:
            raise InvalidRequest(f"{name} = {text} is larger than any revision")
        return revision
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"{name} must be a revision (an integer) or an ISO-8601 time, not {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidRequest(f"{name} = {text!r} is out of range") from None
