"""`Session`: the space layer as one principal sees it; implements `SpaceAPI`."""

from __future__ import annotations

from nucleusmem.errors import AccessDenied, AlreadyExists, Conflict, InvalidRequest, NotFound
from nucleusmem.kv import Delete, Put
from nucleusmem.space._base import validated
from nucleusmem.space._comm import CommCalls
from nucleusmem.space._keys import K
from nucleusmem.space._models import (
    Mode,
    Mount,
    PrincipalInfo,
    RecallSettings,
    SpaceInfo,
    SpaceKind,
    check_name,
    check_space_name,
)

__all__ = ["Session"]

_PURGE_BATCH = 100


class Session(CommCalls):
    """Every `SpaceAPI` call, checked against what ``principal`` may do.

    Get one from `MemSpaceService.session` (trusted, embedded) or
    `MemSpaceService.authenticate` (by bearer token).
    """

    # principals -------------------------------------------------------------------
    async def whoami(self) -> PrincipalInfo:
        """The principal this session acts as."""
        return await self._svc.principal(self.principal)

    async def create_principal(self, name: str, *, admin: bool = False) -> str:
        """Create a principal and return its first bearer token (admin only)."""
        await self._require_admin("create principals")
        return await self._svc.create_principal(name, admin=admin)

    async def issue_token(self, name: str) -> str:
        """A new bearer token for an existing principal (admin only)."""
        await self._require_admin("issue tokens")
        return await self._svc.issue_token(check_name("principal", name))

    async def _require_admin(self, action: str) -> None:
        if not (await self._svc.principal(self.principal)).admin:
            raise AccessDenied(self.principal, action)

    # spaces -------------------------------------------------------------------------
    async def create_space(
        self,
        name: str,
        *,
        kind: SpaceKind = SpaceKind.SHARED,
        members: dict[str, Mode] | None = None,
        quota_bytes: int | None = None,
        history_retention_s: float | None = None,
        description: str = "",
    ) -> SpaceInfo:
        """Create a space owned by this principal."""
        check_space_name(name)
        info = validated(
            SpaceInfo,
            {
                "name": name,
                "kind": kind,
                "owner": self.principal,
                "members": dict(members or {}),
                "quota_bytes": quota_bytes,
                "history_retention_s": history_retention_s,
                "description": description,
                "created_at": self._svc.now(),
            },
        )
        if info.kind is SpaceKind.PRIVATE and info.members:
            raise InvalidRequest("a private space has no members; make it shared")
        if self.principal in info.members:
            raise InvalidRequest("the owner is not also a member")
        try:
            revision = await self._store.commit(
                [Put(K.space(name), info.model_dump_json().encode())], reads={K.space(name): 0}
            )
        except Conflict:
            raise AlreadyExists("space", name) from None
        return info.model_copy(update={"revision": revision})

    async def list_spaces(self) -> list[SpaceInfo]:
        """The spaces this principal owns or is a member of, by name."""
        from nucleusmem.space._service import allowed

        names = [SpaceInfo.model_validate_json(kv.value) async for kv in self._range_all(K.space())]
        visible = [i.name for i in names if allowed(i, self.principal, "read")]
        return [await self._svc.space_info(name) for name in visible]

    async def get_space(self, space: str) -> SpaceInfo:
        """One space's settings and usage."""
        await self._svc.check(self.principal, space, "read")
        return await self._svc.space_info(space)

    async def delete_space(self, space: str) -> None:
        """Delete a space and everything in it (owner only).

        The settings go first, in one commit that fails if they changed meanwhile, so
        the space is unreachable at once; its records, messages and registry are then
        deleted in batches (their history stays until compaction).
        """
        info = await self._svc.check(self.principal, space, "owner")
        await self._store.commit(
            [Delete(K.space(space)), Delete(K.usage(space))],
            reads={K.space(space): info.revision},
        )
        for prefix in K.space_prefixes(space):
            while True:
                page = await self._store.range(prefix, limit=_PURGE_BATCH)
                if not page.items:
                    break
                await self._store.commit([Delete(kv.key) for kv in page.items])

    async def set_member(self, space: str, principal: str, mode: Mode | None) -> SpaceInfo:
        """Add or change a member of a shared space, or remove it with None (owner only)."""
        check_name("principal", principal)
        mode = None if mode is None else _mode(mode)
        info = await self._svc.check(self.principal, space, "owner")
        if info.kind is SpaceKind.PRIVATE:
            raise InvalidRequest("a private space has no members; its owner alone reaches it")
        if principal == info.owner:
            raise InvalidRequest("the owner is not also a member")
        members = dict(info.members)
        if mode is None:
            if members.pop(principal, None) is None:
                raise NotFound("member", principal)
        else:
            members[principal] = mode
        return await self._update_settings(info, members=members)

    async def set_recall(self, space: str, recall: RecallSettings) -> SpaceInfo:
        """Change how ``space`` is indexed for search (owner only).

        Every node's index of the space follows: it rebuilds in the background and
        serves the old index until the new one has caught up.
        """
        info = await self._svc.check(self.principal, space, "owner")
        return await self._update_settings(info, recall=recall)

    async def _update_settings(self, info: SpaceInfo, **changes: object) -> SpaceInfo:
        """Store ``info`` with ``changes``; `Conflict` if the settings moved meanwhile."""
        stored = info.model_copy(update={**changes, "revision": 0, "used_bytes": 0})
        revision = await self._store.commit(
            [Put(K.space(info.name), stored.model_dump_json().encode())],
            reads={K.space(info.name): info.revision},
        )
        return info.model_copy(update={**changes, "revision": revision})

    # mounts -------------------------------------------------------------------------
    async def mount(self, agent: str, space: str, *, mode: Mode = Mode.RW) -> Mount:
        """Mount ``space`` for ``agent``; the mount is stored until unmounted."""
        check_name("agent", agent)
        mode = _mode(mode)
        await self._svc.check(self.principal, space, "write" if mode is Mode.RW else "read")
        await self._svc.claim_agent(self.principal, agent)
        mount = Mount(agent=agent, space=space, mode=mode, mounted_at=self._svc.now())
        revision = await self._store.put(K.mount(agent, space), mount.model_dump_json().encode())
        return mount.model_copy(update={"revision": revision})

    async def unmount(self, agent: str, space: str) -> None:
        """Unmount ``space`` from ``agent``."""
        check_name("agent", agent)
        check_space_name(space)
        await self._svc.claim_agent(self.principal, agent)
        if await self._store.get(K.mount(agent, space)) is None:
            raise NotFound("mount", f"{agent}/{space}")
        await self._store.delete(K.mount(agent, space))

    async def mounts(self, agent: str) -> list[Mount]:
        """The spaces ``agent`` has mounted (and may still reach)."""
        check_name("agent", agent)
        await self._svc.claim_agent(self.principal, agent)
        mounts: list[Mount] = []
        async for kv in self._range_all(K.mount(agent)):
            mount = Mount.model_validate_json(kv.value)
            try:
                await self._svc.check(self.principal, mount.space, "read")
            except (NotFound, AccessDenied):
                continue  # the space is gone, or this principal lost access to it
            mounts.append(mount.model_copy(update={"revision": kv.revision}))
        return mounts


def _mode(mode: object) -> Mode:
    try:
        return Mode(str(mode))
    except ValueError:
        raise InvalidRequest(f"mode must be 'rw' or 'ro', got {mode!r}") from None
