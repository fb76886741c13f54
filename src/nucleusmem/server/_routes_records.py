"""Routes for records: batch writes, reads now or in the past, history and diffs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from nucleusmem.server._bodies import RevisionBody, WriteBody
from nucleusmem.server._deps import (
    AtQuery,
    KeyPath,
    RegionPath,
    RequiredAtQuery,
    SessionDep,
    SpacePath,
    TimeQuery,
    parse_at,
)
from nucleusmem.space._api import RecordPage
from nucleusmem.space._models import (
    Change,
    DataRegion,
    Name,
    Record,
    RecordKey,
    WriteResult,
)

__all__ = ["router"]

router = APIRouter(tags=["records"])
"""Records under ``/v1/spaces/{space}/regions/{region}``, plus diff and revision."""

_RECORDS = "/spaces/{space}/regions/{region}/records"


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` inlined (for ``openapi_extra``)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return dict(inline(schema))


@router.post(
    _RECORDS,
    status_code=201,
    response_model=WriteResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline_schema(WriteBody)}},
        }
    },
)
async def write(
    space: SpacePath, region: RegionPath, request: Request, session: SessionDep
) -> Response:
    """Write records in one transaction; each gets a new revision-stamped version.

    The body is `WriteBody`, parsed and validated in one pass (this is the hot path).
    The answer carries the revision, time and each record's version, not the content
    the caller already has.
    """
    body = WriteBody.model_validate_json(await request.body())
    stamped = await session.write_stamped(space, body.records, region=region)
    return Response(stamped.to_json(), status_code=201, media_type="application/json")


@router.get(_RECORDS)
async def list_records(
    space: SpacePath,
    region: RegionPath,
    session: SessionDep,
    prefix: Annotated[str, Query(max_length=512)] = "",
    agent: Annotated[Name | None, Query()] = None,
    kind: Annotated[Name | None, Query()] = None,
    thread: Annotated[Name | None, Query()] = None,
    since: TimeQuery = None,
    until: TimeQuery = None,
    at: AtQuery = None,
    after: Annotated[RecordKey | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RecordPage:
    """Records in key order, filtered by key prefix, agent, kind, thread and write time.

    Pass a page's ``next_after`` as ``after`` (and its ``revision`` as ``at``) for the
    next page.
    """
    return await session.list_records(
        space,
        region=region,
        prefix=prefix,
        agent=agent,
        kind=kind,
        thread=thread,
        since=since,
        until=until,
        at=parse_at(at),
        after=after,
        limit=limit,
    )


@router.get(_RECORDS + "/{key:path}")
async def get(
    space: SpacePath, region: RegionPath, key: KeyPath, session: SessionDep, at: AtQuery = None
) -> Record:
    """One record, now or as of ``at``."""
    return await session.get(space, key, region=region, at=parse_at(at))


@router.delete(_RECORDS + "/{key:path}")
async def delete(
    space: SpacePath, region: RegionPath, key: KeyPath, session: SessionDep
) -> RevisionBody:
    """Delete a record (its history keeps the versions); returns the revision."""
    return RevisionBody(revision=await session.delete(space, key, region=region))


@router.get("/spaces/{space}/regions/{region}/history/{key:path}")
async def history(
    space: SpacePath,
    region: RegionPath,
    key: KeyPath,
    session: SessionDep,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> list[Record]:
    """Versions of a record, oldest first; deletions carry ``deleted: true``."""
    return await session.history(space, key, region=region, limit=limit)


@router.get("/spaces/{space}/diff")
async def diff(
    space: SpacePath,
    from_at: RequiredAtQuery,
    session: SessionDep,
    to_at: AtQuery = None,
    region: Annotated[DataRegion | None, Query()] = None,
) -> list[Change]:
    """The records that differ between ``from_at`` and ``to_at`` (default: now)."""
    return await session.diff(
        space, parse_at(from_at, name="from_at"), parse_at(to_at, name="to_at"), region=region
    )


@router.get("/spaces/{space}/revision")
async def revision(space: SpacePath, session: SessionDep, at: AtQuery = None) -> RevisionBody:
    """The revision now, or the one that was current at ``at``."""
    return RevisionBody(revision=await session.revision(space, parse_at(at)))
