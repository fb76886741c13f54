"""Routes for the agent registry and communication, including the event stream."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from nucleusmem.errors import InvalidRequest
from nucleusmem.server._bodies import CursorBody, RegisterBody, SendBody, TopicsBody, TtlBody
from nucleusmem.server._deps import (
    MAX_REVISION,
    AgentPath,
    AtQuery,
    RevisionQuery,
    SessionDep,
    SpacePath,
    TimeQuery,
    parse_at,
)
from nucleusmem.server._sse import EventStreamResponse, StreamRegistry, comm_events
from nucleusmem.space._models import AgentEntry, CommRecord, Name

__all__ = ["router"]

router = APIRouter()
"""The registry and comm routes under ``/v1/spaces/{space}``."""

_AGENT = "/spaces/{space}/agents/{agent}"
_LIMIT = Annotated[int, Query(ge=1, le=10_000)]


@router.put(_AGENT, tags=["registry"])
async def register(
    space: SpacePath, agent: AgentPath, body: RegisterBody, session: SessionDep
) -> AgentEntry:
    """Put an agent in the space's registry; presence lasts ``ttl_s`` unless renewed."""
    return await session.register(
        space,
        agent,
        address=body.address,
        role=body.role,
        capabilities=body.capabilities,
        ttl_s=body.ttl_s,
    )


@router.post(_AGENT + "/heartbeat", tags=["registry"])
async def heartbeat(space: SpacePath, agent: AgentPath, session: SessionDep) -> TtlBody:
    """Renew an agent's presence; returns how many seconds it now lasts."""
    ttl_s = await session.heartbeat(space, agent)
    return TtlBody(ttl_s=ttl_s if math.isfinite(ttl_s) else None)


@router.delete(_AGENT, status_code=204, response_class=Response, tags=["registry"])
async def deregister(space: SpacePath, agent: AgentPath, session: SessionDep) -> None:
    """Remove an agent from the registry."""
    await session.deregister(space, agent)


@router.get("/spaces/{space}/agents", tags=["registry"])
async def agents(space: SpacePath, session: SessionDep, at: AtQuery = None) -> list[AgentEntry]:
    """The space's registry, with presence (now, or as of ``at``)."""
    return await session.agents(space, at=parse_at(at))


@router.post("/spaces/{space}/messages", status_code=201, tags=["comm"])
async def send(space: SpacePath, body: SendBody, session: SessionDep) -> CommRecord:
    """Send to an agent (``to``) or a ``topic``: new ``content`` or a ``ref_key``."""
    return await session.send(
        space,
        sender=body.sender,
        to=body.to,
        topic=body.topic,
        content=body.content,
        metadata=body.metadata,
        key=body.key,
        ref_key=body.ref_key,
        ref_region=body.ref_region,
    )


@router.put(_AGENT + "/topics", tags=["comm"])
async def subscribe(
    space: SpacePath, agent: AgentPath, body: TopicsBody, session: SessionDep
) -> TopicsBody:
    """Set the topics an agent follows (it always gets its directed messages)."""
    return TopicsBody(topics=await session.subscribe(space, agent, body.topics))


@router.get(_AGENT + "/messages", tags=["comm"])
async def messages(
    space: SpacePath,
    agent: AgentPath,
    session: SessionDep,
    after: RevisionQuery = None,
    limit: _LIMIT = 1000,
) -> list[CommRecord]:
    """Messages for an agent after revision ``after`` (default: its cursor)."""
    return await session.messages(space, agent, after=after, limit=limit)


@router.post(_AGENT + "/cursor", tags=["comm"])
async def ack(
    space: SpacePath, agent: AgentPath, body: CursorBody, session: SessionDep
) -> CursorBody:
    """Store an agent's cursor: it handled every message up to ``revision``."""
    return CursorBody(revision=await session.ack(space, agent, body.revision))


@router.get(_AGENT + "/cursor", tags=["comm"])
async def cursor(space: SpacePath, agent: AgentPath, session: SessionDep) -> CursorBody:
    """The revision an agent last acknowledged (0 if none)."""
    return CursorBody(revision=await session.cursor(space, agent))


@router.get("/spaces/{space}/trace", tags=["comm"])
async def trace(
    space: SpacePath,
    session: SessionDep,
    since: TimeQuery = None,
    until: TimeQuery = None,
    agent: Annotated[Name | None, Query()] = None,
    topic: Annotated[Name | None, Query()] = None,
    limit: _LIMIT = 1000,
) -> list[CommRecord]:
    """The conversation log in revision order, by time range, agent and topic."""
    return await session.trace(
        space, since=since, until=until, agent=agent, topic=topic, limit=limit
    )


@router.get(
    _AGENT + "/stream",
    tags=["comm"],
    response_class=EventStreamResponse,
    responses={
        200: {
            "description": "Server-sent events: `id: <revision>`, `event: message`, "
            "`data: <CommRecord JSON>`; `: keepalive` comments in between.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def stream(
    request: Request,
    space: SpacePath,
    agent: AgentPath,
    session: SessionDep,
    after: RevisionQuery = None,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=32, description="Resume after this revision"),
    ] = None,
) -> EventStreamResponse:
    """An agent's messages as server-sent events: first the backlog, then live.

    The backlog starts after ``Last-Event-ID`` (a reconnecting client sends it), else
    after ``after``, else after the agent's cursor. The stream never ends by itself.
    """
    if last_event_id is not None and last_event_id.strip():
        after = _event_id(last_event_id.strip())
    # Checked and subscribed here, so 404 and 403 come back before the 200.
    opened = await session.open_stream(
        space, agent, after=after, idle_s=request.app.state.keepalive_s
    )
    registry: StreamRegistry = request.app.state.streams
    events = comm_events(opened, registry=registry)
    return EventStreamResponse(
        events, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def _event_id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > MAX_REVISION:
        raise InvalidRequest(f"Last-Event-ID must be a revision, not {text!r}")
    return int(text)
