"""`MemSpaceService`: the space layer of one node, over one KV store.

It holds no state of its own that matters: principals, spaces, records, mounts and
cursors all live in the store, so any number of services (processes, server nodes)
can share one store. What it keeps in memory is derived: the comm watcher, and caches
of facts that never change once written (which principal a token or an agent id
belongs to).

Access is decided here, for every path (embedded sessions and the HTTP server alike):

* a **private** space is reachable by its owner alone;
* a **shared** space is read by its owner and members, and written by the owner and
  ``rw`` members;
* only the owner changes members or deletes the space;
* admins create principals and tokens; being admin grants no right on any space.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Literal

from nucleusmem.errors import (
    AccessDenied,
    AlreadyExists,
    Conflict,
    InvalidRequest,
    InvalidRevision,
    NotFound,
    StoreUnavailable,
    Unauthenticated,
)
from nucleusmem.kv import Put, Store
from nucleusmem.space._codec import decode_comm, dumps, loads
from nucleusmem.space._keys import K
from nucleusmem.space._known import KnownVersions
from nucleusmem.space._models import (
    Mode,
    PrincipalInfo,
    SpaceInfo,
    SpaceKind,
    check_name,
    check_space_name,
)
from nucleusmem.space._session import Session
from nucleusmem.space._watcher import Watcher

__all__ = ["Access", "MemSpaceService", "hash_token"]

_log = logging.getLogger(__name__)

Access = Literal["read", "write", "owner"]
"""What a call needs of a space."""

ADMIN = "admin"


def hash_token(token: str) -> str:
    """The stored form of a bearer token (SHA-256 hex).

    Tokens are 256 random bits, so a fast hash is enough: there is nothing to guess.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh bearer token."""
    return "nm_" + secrets.token_urlsafe(32)


class MemSpaceService:
    """The space layer over ``store``; hand out `Session` objects with `session`.

    ``now`` is the wall clock (seconds since the epoch) used for record times.
    ``retention_interval_s`` is how often history retention is applied (None: never).
    """

    def __init__(
        self,
        store: Store,
        *,
        now: Callable[[], float] = time.time,
        retention_interval_s: float | None = 60.0,
        max_pending: int = 1024,
    ) -> None:
        self.store = store
        self.now = now
        self.watcher = Watcher(store, decode_comm, max_pending=max_pending)
        self._retention_interval_s = retention_interval_s
        self._retention_task: asyncio.Task[None] | None = None
        self._token_cache: dict[str, str] = {}
        self._agent_cache: dict[str, str] = {}
        self._spaces: dict[str, SpaceInfo] = {}
        self._spaces_fresh = False  # the cache is trusted only while its watch runs
        self._spaces_task: asyncio.Task[None] | None = None
        self._write_locks: dict[str, asyncio.Lock] = {}
        self.known = KnownVersions()
        """Versions this node last saw of keys it writes (see `KnownVersions`)."""
        self.on_settings_change: list[Callable[[str], None]] = []
        """Called with a space's name whenever its settings change (or it is deleted)."""

    async def __aenter__(self) -> MemSpaceService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start the comm watcher, the settings cache and the retention loop; idempotent."""
        await self.watcher.start()
        if self._spaces_task is None:
            registered = asyncio.get_running_loop().create_future()
            self._spaces_task = asyncio.get_running_loop().create_task(
                self._follow_spaces(registered)
            )
            await registered
        if self._retention_interval_s is not None and self._retention_task is None:
            self._retention_task = asyncio.get_running_loop().create_task(self._retain())

    async def aclose(self) -> None:
        """Stop the watcher and background loops; the store stays open."""
        task, self._retention_task = self._retention_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        task, self._spaces_task = self._spaces_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.watcher.aclose()

    async def _follow_spaces(self, registered: asyncio.Future[None]) -> None:
        """Keep the settings cache true: drop a space's entry when its settings change."""
        while True:
            try:
                async with self.store.watch(K.space()) as watch:
                    self._spaces.clear()
                    self._spaces_fresh = True
                    if not registered.done():
                        registered.set_result(None)
                    async for event in watch:
                        space = event.key[len(K.space()) :].decode()
                        self._spaces.pop(space, None)
                        for callback in self.on_settings_change:
                            callback(space)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("space settings watch ended (%s); restarting", exc)
            finally:
                self._spaces_fresh = False
                self._spaces.clear()
            if not registered.done():
                registered.set_result(None)
            await asyncio.sleep(0.1)

    def write_lock(self, space: str) -> asyncio.Lock:
        """Serialises this node's writes to one space (they share its byte counter)."""
        lock = self._write_locks.get(space)
        if lock is None:
            lock = self._write_locks[space] = asyncio.Lock()
        return lock

    def forget_space(self, space: str) -> None:
        """Drop a cached settings entry (after a commit found it changed)."""
        self._spaces.pop(space, None)

    async def ready(self) -> None:
        """Raise `StoreUnavailable` unless the store answers."""
        await self.store.revision()

    def session(self, principal: str) -> Session:
        """A session acting as ``principal``, trusted without a token (embedded use)."""
        return Session(self, check_name("principal", principal))

    async def authenticate(self, token: str | None) -> Session:
        """The session of the principal holding ``token``; `Unauthenticated` if none."""
        if not token:
            raise Unauthenticated("a bearer token is required")
        digest = hash_token(token)
        name = self._token_cache.get(digest)
        if name is None:
            kv = await self.store.get(K.token(digest))
            if kv is None:
                raise Unauthenticated("the bearer token is not valid")
            name = str(loads(kv.value)["principal"])
            self._token_cache[digest] = name
        return self.session(name)

    async def bootstrap_admin(self, token: str | None = None) -> str:
        """Make sure principal ``admin`` exists and holds ``token`` (or a new one)."""
        token = token or new_token()
        info = PrincipalInfo(name=ADMIN, admin=True, created_at=self.now())
        await self.store.commit(
            [
                Put(K.principal(ADMIN), info.model_dump_json().encode()),
                Put(K.token(hash_token(token)), dumps({"principal": ADMIN})),
            ]
        )
        return token

    async def principal(self, name: str) -> PrincipalInfo:
        """A principal's record; one that was never created is a plain non-admin."""
        kv = await self.store.get(K.principal(name))
        if kv is None:  # embedded code may act as admin before a server bootstrapped it
            return PrincipalInfo(name=name, admin=name == ADMIN)
        return PrincipalInfo.model_validate_json(kv.value)

    async def create_principal(self, name: str, *, admin: bool) -> str:
        """Create ``name`` with a first token; `AlreadyExists` if taken."""
        check_name("principal", name)
        token = new_token()
        info = PrincipalInfo(name=name, admin=admin, created_at=self.now())
        try:
            await self.store.commit(
                [
                    Put(K.principal(name), info.model_dump_json().encode()),
                    Put(K.token(hash_token(token)), dumps({"principal": name})),
                ],
                reads={K.principal(name): 0},
            )
        except Conflict:
            raise AlreadyExists("principal", name) from None
        return token

    async def issue_token(self, name: str) -> str:
        """Another token for an existing principal."""
        if await self.store.get(K.principal(name)) is None:
            raise NotFound("principal", name)
        token = new_token()
        await self.store.put(K.token(hash_token(token)), dumps({"principal": name}))
        return token

    async def space_info(self, space: str) -> SpaceInfo:
        """A space's settings and usage; `NotFound` if there is no such space."""
        check_space_name(space)
        kv, used = await self.store.get_many([K.space(space), K.usage(space)])
        if kv is None:
            raise NotFound("space", space)
        info = SpaceInfo.model_validate_json(kv.value)
        return info.model_copy(
            update={"revision": kv.revision, "used_bytes": int(used.value) if used else 0}
        )

    async def settings(self, space: str) -> SpaceInfo:
        """A space's settings (``used_bytes`` left 0), from the cache when it is fresh."""
        info = self._spaces.get(space)
        if info is not None:
            return info
        check_space_name(space)
        fresh = self._spaces_fresh
        kv = await self.store.get(K.space(space))
        if kv is None:
            raise NotFound("space", space)
        info = SpaceInfo.model_validate_json(kv.value).model_copy(update={"revision": kv.revision})
        if fresh and self._spaces_fresh:
            self._spaces[space] = info
        return info

    async def check(self, principal: str, space: str, need: Access) -> SpaceInfo:
        """The space's settings if ``principal`` may ``need`` it, else `AccessDenied`.

        Settings come from the cache, except for owner calls, which read them fresh
        (they commit conditionally on them).
        """
        if need == "owner":
            self.forget_space(space)
        info = await self.settings(space)
        if not allowed(info, principal, need):
            raise AccessDenied(principal, _ACTION[need], space)
        return info

    async def claim_agent(self, principal: str, agent: str) -> None:
        """Make sure ``agent`` belongs to ``principal``, claiming it if unclaimed."""
        owner = self._agent_cache.get(agent)
        if owner is None:
            key = K.agent(agent)
            kv = await self.store.get(key)
            if kv is None:
                try:
                    await self.store.commit(
                        [Put(key, dumps({"principal": principal}))], reads={key: 0}
                    )
                    owner = principal
                except Conflict:
                    kv = await self.store.get(key)
            if kv is not None:
                owner = str(loads(kv.value)["principal"])
            assert owner is not None
            self._agent_cache[agent] = owner
        if owner != principal:
            raise AccessDenied(principal, f"act as agent {agent!r}")

    async def agent_owner(self, agent: str) -> str | None:
        """The principal ``agent`` belongs to, or None if unclaimed."""
        if agent in self._agent_cache:
            return self._agent_cache[agent]
        kv = await self.store.get(K.agent(agent))
        return None if kv is None else str(loads(kv.value)["principal"])

    async def resolve(self, at: int | dt.datetime | None) -> int | None:
        """The revision ``at`` names: itself if an int, the revision current at a moment."""
        if at is None:
            return None
        if isinstance(at, dt.datetime):
            if at.tzinfo is None:
                at = at.replace(tzinfo=dt.UTC)
            revision = await self.store.revision_at(at)
            if revision <= 0:
                raise InvalidRevision(0, None, f"nothing was written at or before {at}")
            return revision
        if isinstance(at, bool) or not isinstance(at, int):
            raise InvalidRequest(f"at must be a revision or a datetime, got {at!r}")
        if at <= 0:
            raise InvalidRevision(at, None, "revisions start at 1")
        head = await self.store.revision()
        if at > head:
            raise InvalidRevision(at, head, f"it is in the future (the newest is {head})")
        return at

    async def apply_retention(self) -> int | None:
        """Compact history no space still needs; returns the new floor, if it moved.

        History is one log for the whole store, so it is kept back to what the space
        with the longest retention needs; a space keeping history forever (the
        default) keeps all of it.
        """
        floor: int | None = None
        page = await self.store.range(K.space())
        for kv in page.items:
            info = SpaceInfo.model_validate_json(kv.value)
            if info.history_retention_s is None:
                return None
            keep_from = await self.store.revision_at(self.now() - info.history_retention_s)
            floor = keep_from if floor is None else min(floor, keep_from)
        if floor is None or floor <= await self.store.compaction_floor():
            return None
        await self.store.compact(floor)
        return floor

    async def _retain(self) -> None:
        assert self._retention_interval_s is not None
        while True:
            await asyncio.sleep(self._retention_interval_s)
            try:
                await self.apply_retention()
            except StoreUnavailable as exc:
                _log.warning("retention skipped: %s", exc)


_ACTION = {"read": "read", "write": "write", "owner": "administer"}


def allowed(info: SpaceInfo, principal: str, need: Access) -> bool:
    """Whether ``principal`` may ``need`` the space ``info`` describes."""
    if principal == info.owner:
        return True
    if info.kind is SpaceKind.PRIVATE or need == "owner":
        return False
    mode = info.members.get(principal)
    return mode is not None and (need == "read" or mode is Mode.RW)
