"""`RecallService`: search over MemSpaces for one node, with the space layer's access rules.

Each space gets its own `SpaceIndex` the first time it is searched; it is derived from
the store and kept fresh by a watch, so every node keeps its own index without any
coordination. A search first waits (briefly) until the index has caught up with the
store, so a record written just before is found.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from pathlib import Path

from nucleusmem.errors import InvalidRequest
from nucleusmem.recall._embedder import Embedder
from nucleusmem.recall._hashing import HashingEmbedder
from nucleusmem.recall._policy import IndexPolicy
from nucleusmem.recall._space_index import Hit, SpaceIndex
from nucleusmem.space import MemSpaceService, Session
from nucleusmem.space._models import check_name

__all__ = ["RecallService", "RecallSession", "SearchHit"]

_MODES = ("hybrid", "vector", "lexical")


SearchHit = Hit
"""A search result (the index's `Hit`), as the API and the SDK return it."""


class RecallService:
    """Search for the principals of ``spaces``, embedding with ``embedder``.

    With ``index_dir``, each space's index is saved there (every 30 s while it
    changes, and on close) and a restarted node resumes from it.
    """

    def __init__(
        self,
        spaces: MemSpaceService,
        *,
        embedder: Embedder | None = None,
        policy: IndexPolicy | None = None,
        catch_up_s: float = 2.0,
        index_dir: Path | None = None,
    ) -> None:
        self.spaces = spaces
        self.embedder = embedder or HashingEmbedder()
        self.policy = policy or IndexPolicy()
        self._catch_up_s = catch_up_s
        self.index_dir = index_dir
        """Where indexes are saved, so a restarted node resumes (None: memory only)."""
        self._indexes: dict[str, SpaceIndex] = {}
        self._opening: dict[str, asyncio.Task[SpaceIndex]] = {}

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
    ) -> list[SearchHit]:
        """The ``k`` best records of ``space`` for ``query``; access as for reads.

        ``agent`` searches as that agent (its private lane included), which needs the
        agent to belong to ``principal``; ``thread`` and ``resource`` narrow the first
        lanes looked in. ``at`` searches the space as of a revision or a moment.
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
        return index.search(
            query, k=k, mode=mode, agent=agent, thread=thread, resource=resource, at=revision
        )

    def status(self, space: str) -> dict[str, object] | None:
        """What the index of ``space`` holds and skipped (None before its first search)."""
        index = self._indexes.get(space)
        if index is None:
            return None
        return {
            "embedder": self.embedder.name,
            "resumed_from": index.resumed_from,
            "indexed_revision": index.indexed_revision,
            "indexed": index.indexed,
            "skipped": dict(index.skipped),
        }

    async def aclose(self) -> None:
        """Stop every index."""
        for task in self._opening.values():
            task.cancel()
        for index in self._indexes.values():
            await index.aclose()
        self._indexes.clear()

    async def _index(self, space: str) -> SpaceIndex:
        index = self._indexes.get(space)
        if index is not None:
            return index
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
        snapshot = None
        if self.index_dir is not None:
            model = re.sub(r"[^A-Za-z0-9._-]+", "_", self.embedder.name)
            snapshot = self.index_dir / f"{space}--{model}.npz"
        index = SpaceIndex(
            self.spaces.store, space, self.embedder, policy=self.policy, snapshot=snapshot
        )
        await index.start()
        self._indexes[space] = index
        return index


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
        )
