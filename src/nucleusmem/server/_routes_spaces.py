"""Routes for principals, spaces, members and mounts."""

from __future__ import annotations

from fastapi import APIRouter, Response

from nucleusmem.server._bodies import (
    CreatePrincipal,
    CreateSpace,
    MemberBody,
    MountBody,
    PrincipalToken,
    TokenBody,
)
from nucleusmem.server._deps import AgentPath, NamePath, SessionDep, SpacePath
from nucleusmem.space._models import Mount, PrincipalInfo, SpaceInfo

__all__ = ["router"]

router = APIRouter()
"""Principals (``/v1/whoami``, ``/v1/principals``), spaces and mounts."""


@router.get("/whoami", tags=["principals"])
async def whoami(session: SessionDep) -> PrincipalInfo:
    """The principal the bearer token belongs to."""
    return await session.whoami()


@router.post("/principals", status_code=201, tags=["principals"])
async def create_principal(body: CreatePrincipal, session: SessionDep) -> PrincipalToken:
    """Create a principal and return its first token (admin only)."""
    token = await session.create_principal(body.name, admin=body.admin)
    return PrincipalToken(name=body.name, token=token)


@router.post("/principals/{name}/tokens", status_code=201, tags=["principals"])
async def issue_token(name: NamePath, session: SessionDep) -> TokenBody:
    """Issue another token for an existing principal (admin only)."""
    return TokenBody(token=await session.issue_token(name))


@router.post("/spaces", status_code=201, tags=["spaces"])
async def create_space(body: CreateSpace, session: SessionDep) -> SpaceInfo:
    """Create a space owned by the caller."""
    return await session.create_space(
        body.name,
        kind=body.kind,
        members=body.members,
        quota_bytes=body.quota_bytes,
        history_retention_s=body.history_retention_s,
        description=body.description,
    )


@router.get("/spaces", tags=["spaces"])
async def list_spaces(session: SessionDep) -> list[SpaceInfo]:
    """The spaces the caller owns or is a member of, by name."""
    return await session.list_spaces()


@router.get("/spaces/{space}", tags=["spaces"])
async def get_space(space: SpacePath, session: SessionDep) -> SpaceInfo:
    """One space's settings and usage."""
    return await session.get_space(space)


@router.delete("/spaces/{space}", status_code=204, response_class=Response, tags=["spaces"])
async def delete_space(space: SpacePath, session: SessionDep) -> None:
    """Delete a space and everything in it (owner only)."""
    await session.delete_space(space)


@router.put("/spaces/{space}/members/{principal}", tags=["spaces"])
async def set_member(
    space: SpacePath, principal: NamePath, body: MemberBody, session: SessionDep
) -> SpaceInfo:
    """Add a member to a shared space, or change its mode (owner only)."""
    return await session.set_member(space, principal, body.mode)


@router.delete("/spaces/{space}/members/{principal}", tags=["spaces"])
async def remove_member(space: SpacePath, principal: NamePath, session: SessionDep) -> SpaceInfo:
    """Remove a member from a shared space (owner only)."""
    return await session.set_member(space, principal, None)


@router.put("/agents/{agent}/mounts/{space}", tags=["mounts"])
async def mount(agent: AgentPath, space: SpacePath, body: MountBody, session: SessionDep) -> Mount:
    """Mount a space for an agent; the mount is stored until unmounted."""
    return await session.mount(agent, space, mode=body.mode)


@router.delete(
    "/agents/{agent}/mounts/{space}", status_code=204, response_class=Response, tags=["mounts"]
)
async def unmount(agent: AgentPath, space: SpacePath, session: SessionDep) -> None:
    """Unmount a space from an agent."""
    await session.unmount(agent, space)


@router.get("/agents/{agent}/mounts", tags=["mounts"])
async def mounts(agent: AgentPath, session: SessionDep) -> list[Mount]:
    """The spaces an agent has mounted."""
    return await session.mounts(agent)
