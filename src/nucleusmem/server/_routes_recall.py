"""Routes for search: a space's records by meaning and by words, lane by lane."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from nucleusmem.recall._service import IndexStatus, RecallService, SearchHit
from nucleusmem.server._deps import AtQuery, SessionDep, SpacePath, parse_at
from nucleusmem.space._models import Name, RecallSettings, SpaceInfo

__all__ = ["router"]

router = APIRouter(tags=["recall"])
"""Search under ``/v1/spaces/{space}``."""


@router.get("/spaces/{space}/search")
async def search(
    request: Request,
    space: SpacePath,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=4096, description="The query")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    mode: Literal["hybrid", "vector", "lexical"] = "hybrid",
    agent: Annotated[Name | None, Query(description="Search as this agent")] = None,
    thread: Annotated[Name | None, Query(description="Look in this thread first")] = None,
    resource: Annotated[Name | None, Query(description="Then in this resource")] = None,
    at: AtQuery = None,
    now: Annotated[
        dt.datetime | None,
        Query(description="Resolve time phrases ('last week') against this moment"),
    ] = None,
) -> list[SearchHit]:
    """The ``k`` best records for ``q``: thread lane, resource, agent, then the space."""
    recall: RecallService = request.app.state.recall
    return await recall.search(
        session.principal,
        space,
        q,
        k=k,
        mode=mode,
        agent=agent,
        thread=thread,
        resource=resource,
        at=parse_at(at),
        now=now,
    )


@router.get("/spaces/{space}/index")
async def index_status(request: Request, space: SpacePath, session: SessionDep) -> IndexStatus:
    """The space's index on this node: embedder, indexed revision, skips, any rebuild."""
    recall: RecallService = request.app.state.recall
    return await recall.status(session.principal, space)


@router.put("/spaces/{space}/recall")
async def set_recall(
    request: Request, space: SpacePath, session: SessionDep, body: RecallSettings
) -> SpaceInfo:
    """Choose the space's embedder and indexing policy (owner only).

    The index is rebuilt in the background; searches use the old one until it is done.
    """
    recall: RecallService = request.app.state.recall
    return await recall.configure(session.principal, space, body)
