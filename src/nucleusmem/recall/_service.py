"""`RecallService`: search over MemSpaces for one node, with the space layer's access rules.

Each space gets its own `SpaceIndex` the first time it is searched; it is derived from
the store and kept fresh by a watch, so every node keeps its own index without any
coordination. A search first waits (briefly) until the index has caught up with the
store, so a record written just before is found.

A space's `RecallSettings` (embedder and policy) live with its settings in the store.
When they change, every node that has the space's index builds a new one beside it,
in the background; searches keep using the old index until the new one has caught up
with the store, then the new one takes over and the old one is dropped. Vectors of two
embedders are never mixed: each index embeds its records and its queries with one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from nucleusmem.errors import EmbedderUnavailable, InvalidRequest, NotFound, NucleusMemError
from nucleusmem.recall._embedder import Embedder
from nucleusmem.recall._hashing import HashingEmbedder
from nucleusmem.recall._policy import IndexPolicy
from nucleusmem.recall._space_index import Hit, SpaceIndex
from nucleusmem.space import MemSpaceService, Session
from nucleusmem.space._models import RecallSettings, SpaceInfo, check_name

__all__ = ["IndexStatus", "RecallService", "RecallSession", "ReindexProgress", "SearchHit"]

_log = logging.getLogger(__name__)
_MODES = ("hybrid", "vector", "lexical")


SearchHit = Hit
"""A search result (the index's `Hit`), as the API and the SDK return it."""


class ReindexProgress(BaseModel):
    """A rebuild under way: the index that will replace the current one.

    ``done`` and ``total`` count revisions of the store: the new index started at
    ``first`` (the compaction floor, or its snapshot) and takes over once it reaches
    the revision the store was at when it began.
    """

    embedder: str
    settings: RecallSettings
    first: int
    done: int
    total: int
    started_at: float


class IndexStatus(BaseModel):
    """A space's search index on this node: what serves searches, and any rebuild.

    ``started`` is False until the space is first searched on this node (indexes are
    built on demand). ``error`` says why the space's settings cannot be served here
    (an embedder this node lacks) or why the last rebuild failed.
    """

    started: bool
    embedder: str
    settings: RecallSettings
    resumed_from: int | None = None
    indexed_revision: int = 0
    indexed: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)
    reindex: ReindexProgress | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Config:
    """What an index is built with: a space's settings, resolved on this node."""

    settings: RecallSettings
    embedder: Embedder
    policy: IndexPolicy

    def same(self, other: _Config) -> bool:
        return self.embedder.name == other.embedder.name and self.policy == other.policy


@dataclass(slots=True)
class _Build:
    config: _Config
    index: SpaceIndex
    task: asyncio.Task[None]
    started_at: float


class RecallService:
    """Search for the principals of ``spaces``.

    ``embedder`` is the node's default (for spaces whose settings name none);
    ``embedders`` maps the names a space may choose (``hashing``, ``minilm``,
    ``openai``) to factories, called once, when a space first needs that embedder.
    ``hashing`` is always available. With ``index_dir``, each space's index is saved
    there (every 30 s while it changes, and on close) and a restarted node resumes
    from it.
    """

    def __init__(
        self,
        spaces: MemSpaceService,
        *,
        embedder: Embedder | None = None,
        embedders: Mapping[str, Callable[[], Embedder]] | None = None,
        catch_up_s: float = 2.0,
        index_dir: Path | None = None,
    ) -> None:
        self.spaces = spaces
        self.embedder = embedder or HashingEmbedder()
        self._factories: dict[str, Callable[[], Embedder]] = {"hashing": HashingEmbedder}
        self._factories.update(embedders or {})
        self._embedders: dict[str, Embedder] = {}
        self._catch_up_s = catch_up_s
        self.index_dir = index_dir
        """Where indexes are saved, so a restarted node resumes (None: memory only)."""
        self._indexes: dict[str, tuple[_Config, SpaceIndex]] = {}
        self._opening: dict[str, asyncio.Task[SpaceIndex]] = {}
        self._builds: dict[str, _Build] = {}
        self._errors: dict[str, str] = {}
        self._checks: dict[str, asyncio.Task[None]] = {}
        self._stale: set[str] = set()
        spaces.on_settings_change.append(self._settings_changed)

    @property
    def embedder_names(self) -> list[str]:
        """The embedders a space may choose on this node."""
        return sorted(self._factories)

    async def search(
        self,
        principal: str,
        space: str,
        query: str,
        *,
        k: int = 10,
        mode: str = "hybrid",
        agent: str | None = None,
        thread: str | None = None,
        resource: str | None = None,
        at: int | dt.datetime | None = None,
        now: dt.datetime | None = None,
    ) -> list[SearchHit]:
        """The ``k`` best records of ``space`` for ``query``; access as for reads.

        ``agent`` searches as that agent (its private lane included), which needs the
        agent to belong to ``principal``; ``thread`` and ``resource`` narrow the first
        lanes looked in. ``at`` searches the space as of a revision or a moment.
        ``now`` is the moment time phrases in the query are resolved against (default:
        ``at`` if it is a moment, else the clock).
        """
        if not query.strip():
            raise InvalidRequest("a search needs a query")
        if not 1 <= k <= 100:
            raise InvalidRequest(f"k must be between 1 and 100, got {k}")
        if mode not in _MODES:
            raise InvalidRequest(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
        for what, name in (("agent", agent), ("thread", thread), ("resource", resource)):
            if name is not None:
                check_name(what, name)
        await self.spaces.check(principal, space, "read")
        if agent is not None:
            await self.spaces.claim_agent(principal, agent)
        revision = await self.spaces.resolve(at)
        index = await self._index(space)
        head = await self.spaces.store.revision()
        with contextlib.suppress(TimeoutError):  # behind is not wrong: answer what is indexed
            await index.wait_for(min(head, revision or head), self._catch_up_s)
        return await asyncio.to_thread(
            index.search,
            query,
            k=k,
            mode=mode,
            agent=agent,
            thread=thread,
            resource=resource,
            at=revision,
            now=_epoch(now if now is not None else at if isinstance(at, dt.datetime) else None),
        )

    async def configure(self, principal: str, space: str, settings: RecallSettings) -> SpaceInfo:
        """Set how ``space`` is indexed (owner only); the index rebuilds in the background.

        The embedder must be one this node has (`embedder_names`).
        """
        if settings.embedder is not None and settings.embedder not in self._factories:
            raise InvalidRequest(
                f"no embedder {settings.embedder!r} here; choose one of "
                f"{', '.join(self.embedder_names)} (or none for the node's default)"
            )
        info = await self.spaces.session(principal).set_recall(space, settings)
        self._settings_changed(space)
        return info

    async def status(self, principal: str, space: str) -> IndexStatus:
        """What the index of ``space`` holds and skipped, and any rebuild; as for reads."""
        info = await self.spaces.check(principal, space, "read")
        current = self._indexes.get(space)
        if current is None:
            return IndexStatus(
                started=False,
                embedder=self._embedder_name(info.recall),
                settings=info.recall,
                error=self._errors.get(space),
            )
        config, index = current
        build = self._builds.get(space)
        reindex = None
        if build is not None:
            first, done, total = build.index.progress
            reindex = ReindexProgress(
                embedder=build.config.embedder.name,
                settings=build.config.settings,
                first=first,
                done=done,
                total=total,
                started_at=build.started_at,
            )
        return IndexStatus(
            started=True,
            embedder=config.embedder.name,
            settings=config.settings,
            resumed_from=index.resumed_from,
            indexed_revision=index.indexed_revision,
            indexed=index.indexed,
            skipped=dict(index.skipped),
            reindex=reindex,
            error=self._errors.get(space),
        )

    async def aclose(self) -> None:
        """Stop every index and rebuild."""
        with contextlib.suppress(ValueError):
            self.spaces.on_settings_change.remove(self._settings_changed)
        for task in [*self._opening.values(), *self._checks.values()]:
            task.cancel()
        for build in self._builds.values():
            build.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await build.task
            await build.index.aclose()
        self._builds.clear()
        for _, index in self._indexes.values():
            await index.aclose()
        self._indexes.clear()

    # -- opening and rebuilding ----------------------------------------------------------
    async def _index(self, space: str) -> SpaceIndex:
        current = self._indexes.get(space)
        if current is not None:
            return current[1]
        task = self._opening.get(space)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._open(space))
            self._opening[space] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._opening.pop(space, None)

    async def _open(self, space: str) -> SpaceIndex:
        config = self._config((await self.spaces.settings(space)).recall)
        index = self._new_index(space, config)
        await index.start()
        self._indexes[space] = (config, index)
        self._errors.pop(space, None)
        return index

    def _settings_changed(self, space: str) -> None:
        """A space's settings changed: check (soon) whether its index must be rebuilt."""
        if space not in self._indexes:
            return
        self._stale.add(space)
        if space not in self._checks:
            task = asyncio.get_running_loop().create_task(self._check_while_stale(space))
            self._checks[space] = task
            task.add_done_callback(lambda _: self._checks.pop(space, None))

    async def _check_while_stale(self, space: str) -> None:
        while space in self._stale:
            self._stale.discard(space)
            await self._check(space)

    async def _check(self, space: str) -> None:
        try:
            info = await self.spaces.space_info(space)  # from the store: the cache may lag
        except NotFound:  # the space is gone: so is its index
            await self._drop(space)
            return
        try:
            wanted = self._config(info.recall)
        except NucleusMemError as exc:
            self._errors[space] = str(exc)
            _log.warning("space %s: %s; its index stays as it is", space, exc)
            return
        current = self._indexes.get(space)
        build = self._builds.get(space)
        if current is None:
            return
        if current[0].same(wanted):
            self._indexes[space] = (wanted, current[1])  # e.g. only the embedder's alias
            if build is not None:
                await self._cancel(space)
            return
        if build is not None and build.config.same(wanted):
            return
        if build is not None:
            await self._cancel(space)
        index = self._new_index(space, wanted)
        task = asyncio.get_running_loop().create_task(self._rebuild(space, wanted, index))
        self._builds[space] = _Build(wanted, index, task, time.time())
        _log.info("space %s: rebuilding its index with %s", space, wanted.embedder.name)

    async def _rebuild(self, space: str, config: _Config, index: SpaceIndex) -> None:
        try:
            await index.start()
        except asyncio.CancelledError:
            await index.discard()
            raise
        except Exception as exc:
            self._errors[space] = f"rebuilding the index failed: {exc}"
            _log.exception("space %s: rebuilding its index failed", space)
            self._builds.pop(space, None)
            await index.discard()
            return
        old = self._indexes.get(space)
        self._indexes[space] = (config, index)
        self._builds.pop(space, None)
        self._errors.pop(space, None)
        _log.info("space %s: the index with %s took over", space, config.embedder.name)
        if old is not None:
            await old[1].discard()

    async def _cancel(self, space: str) -> None:
        build = self._builds.pop(space, None)
        if build is not None:
            build.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await build.task

    async def _drop(self, space: str) -> None:
        await self._cancel(space)
        current = self._indexes.pop(space, None)
        if current is not None:
            await current[1].discard()

    def _config(self, settings: RecallSettings) -> _Config:
        policy = IndexPolicy(
            min_chars=settings.min_chars,
            skip_greetings=settings.skip_greetings,
            skip_tool_json=settings.skip_tool_json,
            short_error_chars=settings.short_error_chars,
            near_duplicate_cosine=settings.near_duplicate_cosine,
        )
        return _Config(settings, self._embedder(settings.embedder), policy)

    def _embedder(self, name: str | None) -> Embedder:
        if name is None:
            return self.embedder
        embedder = self._embedders.get(name)
        if embedder is None:
            factory = self._factories.get(name)
            if factory is None:
                raise EmbedderUnavailable(
                    f"this node has no embedder {name!r} (it has {', '.join(self.embedder_names)})"
                )
            embedder = self._embedders[name] = factory()
        return embedder

    def _embedder_name(self, settings: RecallSettings) -> str:
        try:
            return self._embedder(settings.embedder).name
        except NucleusMemError:
            return str(settings.embedder)

    def _new_index(self, space: str, config: _Config) -> SpaceIndex:
        snapshot = None
        if self.index_dir is not None:
            model = re.sub(r"[^A-Za-z0-9._-]+", "_", config.embedder.name)
            policy = hashlib.sha256(repr(config.policy).encode()).hexdigest()[:8]
            snapshot = self.index_dir / f"{space}--{model}--{policy}.npz"
        return SpaceIndex(
            self.spaces.store, space, config.embedder, policy=config.policy, snapshot=snapshot
        )


def _epoch(moment: dt.datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


class RecallSession(Session):
    """A `Session` that can also search: the embedded SDK's view of one principal."""

    def __init__(self, service: MemSpaceService, principal: str, recall: RecallService) -> None:
        super().__init__(service, principal)
        self.recall = recall
        """The node's search service."""

    async def search(
        self,
        space: str,
        query: str,
        *,
        k: int = 10,
        mode: str = "hybrid",
        agent: str | None = None,
        thread: str | None = None,
        resource: str | None = None,
        at: int | dt.datetime | None = None,
        now: dt.datetime | None = None,
    ) -> list[SearchHit]:
        """`RecallService.search` as this session's principal."""
        return await self.recall.search(
            self.principal,
            space,
            query,
            k=k,
            mode=mode,
            agent=agent,
            thread=thread,
            resource=resource,
            at=at,
            now=now,
        )

    async def set_recall(self, space: str, settings: RecallSettings) -> SpaceInfo:
        """`RecallService.configure` as this session's principal (owner only)."""
        return await self.recall.configure(self.principal, space, settings)

    async def index_status(self, space: str) -> IndexStatus:
        """`RecallService.status` as this session's principal."""
        return await self.recall.status(self.principal, space)
