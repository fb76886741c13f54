"""`HttpSession`: `SpaceAPI` over HTTP, talking to a NucleusMem server.

Each call is one request to the route the server publishes for it. An error answer
(``{"error": name, "message": ...}``) is raised again as the same class of
`nucleusmem.errors`; a server that cannot be reached raises `StoreUnavailable`
(with ``outcome_unknown`` set when a write may have been applied). Names and keys are
checked before sending, so a bad one fails exactly as it does embedded.

`HttpSession.listen` reads the server-sent event stream. When the connection drops it
reconnects with ``Last-Event-ID`` set to the last revision it delivered, so nothing is
lost or delivered twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from nucleusmem.errors import (
    InvalidRequest,
    NucleusMemError,
    StoreUnavailable,
    UnsupportedURL,
    error_from_wire,
)
from nucleusmem.recall._service import IndexStatus, SearchHit
from nucleusmem.space._api import At, RecordPage
from nucleusmem.space._models import (
    AgentEntry,
    Change,
    CommRecord,
    DataRegion,
    Mode,
    Mount,
    PrincipalInfo,
    RecallSettings,
    Record,
    RecordWrite,
    SpaceInfo,
    SpaceKind,
    WriteResult,
    check_name,
    check_record_key,
    check_space_name,
    written_record,
)

__all__ = ["HttpSession"]

_RECORDS = TypeAdapter(list[Record])
_HITS = TypeAdapter(list[SearchHit])
_SPACES = TypeAdapter(list[SpaceInfo])
_MOUNTS = TypeAdapter(list[Mount])
_CHANGES = TypeAdapter(list[Change])
_AGENTS = TypeAdapter(list[AgentEntry])
_COMMS = TypeAdapter(list[CommRecord])

_READS = frozenset({"GET", "HEAD"})
_BACKOFF_FIRST_S = 0.1
_BACKOFF_MAX_S = 2.0


class HttpSession:
    """The calls of the principal holding ``token``, made on the server at ``base_url``.

    ``timeout_s`` bounds each request (None: no limit). An event stream with nothing
    received for ``stream_idle_timeout_s`` counts as dropped (the server sends a
    keepalive every 15 s). ``listen`` gives up with `StoreUnavailable` after
    ``reconnect_timeout_s`` without a connection (None: it keeps trying). ``transport``
    replaces the network, e.g. ``httpx.ASGITransport(app)`` in tests.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float | None = 30.0,
        stream_idle_timeout_s: float | None = 45.0,
        reconnect_timeout_s: float | None = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url.lower().startswith(("http://", "https://")):
            raise UnsupportedURL(base_url, "expected http://host:port or https://host:port")
        self.base_url = base_url.rstrip("/")
        """The server's URL."""
        self.reconnect_timeout_s = reconnect_timeout_s
        """How long `listen` keeps reconnecting before it gives up (None: forever)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._stream_timeout = httpx.Timeout(timeout_s, read=stream_idle_timeout_s)
        self._client = httpx.AsyncClient(
            base_url=self.base_url + "/v1",
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections to the server."""
        await self._client.aclose()

    # principals -------------------------------------------------------------------
    async def whoami(self) -> PrincipalInfo:
        """The principal this session acts as."""
        return PrincipalInfo.model_validate_json(await self._call("GET", "/whoami"))

    async def create_principal(self, name: str, *, admin: bool = False) -> str:
        """Create a principal and return its first bearer token (admin only)."""
        body = {"name": check_name("principal", name), "admin": admin}
        return str(json.loads(await self._call("POST", "/principals", body))["token"])

    async def issue_token(self, name: str) -> str:
        """A new bearer token for an existing principal (admin only)."""
        path = f"/principals/{_seg(check_name('principal', name))}/tokens"
        return str(json.loads(await self._call("POST", path))["token"])

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
        body = {
            "name": check_space_name(name),
            "kind": kind,
            "members": members,
            "quota_bytes": quota_bytes,
            "history_retention_s": history_retention_s,
            "description": description,
        }
        return SpaceInfo.model_validate_json(await self._call("POST", "/spaces", body))

    async def list_spaces(self) -> list[SpaceInfo]:
        """The spaces this principal owns or is a member of, by name."""
        return _SPACES.validate_json(await self._call("GET", "/spaces"))

    async def get_space(self, space: str) -> SpaceInfo:
        """One space's settings and usage."""
        return SpaceInfo.model_validate_json(await self._call("GET", _space(space)))

    async def delete_space(self, space: str) -> None:
        """Delete a space and everything in it (owner only)."""
        await self._call("DELETE", _space(space))

    async def set_member(self, space: str, principal: str, mode: Mode | None) -> SpaceInfo:
        """Add or change a member of a shared space, or remove it with None (owner only)."""
        path = f"{_space(space)}/members/{_seg(check_name('principal', principal))}"
        if mode is None:
            return SpaceInfo.model_validate_json(await self._call("DELETE", path))
        return SpaceInfo.model_validate_json(await self._call("PUT", path, {"mode": mode}))

    # mounts -------------------------------------------------------------------------
    async def mount(self, agent: str, space: str, *, mode: Mode = Mode.RW) -> Mount:
        """Mount ``space`` for ``agent``; the mount is stored until unmounted."""
        path = f"/agents/{_agent(agent)}/mounts/{_seg(check_space_name(space))}"
        return Mount.model_validate_json(await self._call("PUT", path, {"mode": mode}))

    async def unmount(self, agent: str, space: str) -> None:
        """Unmount ``space`` from ``agent``."""
        await self._call(
            "DELETE", f"/agents/{_agent(agent)}/mounts/{_seg(check_space_name(space))}"
        )

    async def mounts(self, agent: str) -> list[Mount]:
        """The spaces ``agent`` has mounted."""
        return _MOUNTS.validate_json(await self._call("GET", f"/agents/{_agent(agent)}/mounts"))

    # records ------------------------------------------------------------------------
    async def write(
        self, space: str, writes: Sequence[RecordWrite], *, region: DataRegion
    ) -> list[Record]:
        """Write records in one transaction; each gets a new revision-stamped version."""
        body = {"records": [_dump(write) for write in writes]}
        answer = await self._call("POST", _records(space, region), body)
        result = WriteResult.model_validate_json(answer)
        revision, written_at = result.revision, result.time
        return [
            written_record(
                space, region, w, revision, stamp.created_revision, stamp.version, written_at
            )
            for w, stamp in zip(writes, result.records, strict=True)
        ]

    async def get(self, space: str, key: str, *, region: DataRegion, at: At = None) -> Record:
        """One record, now or as of ``at``; `NotFound` if it did not exist then."""
        path = f"{_records(space, region)}/{_key(key)}"
        return Record.model_validate_json(await self._call("GET", path, params={"at": _at(at)}))

    async def list_records(
        self,
        space: str,
        *,
        region: DataRegion,
        prefix: str = "",
        agent: str | None = None,
        kind: str | None = None,
        thread: str | None = None,
        since: float | None = None,
        until: float | None = None,
        at: At = None,
        after: str | None = None,
        limit: int = 100,
    ) -> RecordPage:
        """Records in key order, filtered by agent, kind, thread and write time."""
        params = {
            "prefix": prefix or None,
            "agent": agent,
            "kind": kind,
            "thread": thread,
            "since": since,
            "until": until,
            "at": _at(at),
            "after": after,
            "limit": limit,
        }
        content = await self._call("GET", _records(space, region), params=params)
        return RecordPage.model_validate_json(content)

    async def delete(self, space: str, key: str, *, region: DataRegion) -> int:
        """Delete a record (history keeps its versions); returns the revision."""
        content = await self._call("DELETE", f"{_records(space, region)}/{_key(key)}")
        return int(json.loads(content)["revision"])

    async def history(
        self, space: str, key: str, *, region: DataRegion, limit: int | None = None
    ) -> list[Record]:
        """Versions of a record, oldest first; deletions carry ``deleted=True``."""
        path = f"{_space(space)}/regions/{_region(region)}/history/{_key(key)}"
        return _RECORDS.validate_json(await self._call("GET", path, params={"limit": limit}))

    async def diff(
        self, space: str, from_at: At, to_at: At = None, *, region: DataRegion | None = None
    ) -> list[Change]:
        """The records that differ between two points in history."""
        params = {
            "from_at": _at(from_at),
            "to_at": _at(to_at),
            "region": None if region is None else _region(region),
        }
        return _CHANGES.validate_json(
            await self._call("GET", f"{_space(space)}/diff", params=params)
        )

    async def revision(self, space: str, at: At = None) -> int:
        """The revision of the store now, or the revision that was current at ``at``."""
        content = await self._call("GET", f"{_space(space)}/revision", params={"at": _at(at)})
        return int(json.loads(content)["revision"])

    # communication ------------------------------------------------------------------
    async def register(
        self,
        space: str,
        agent: str,
        *,
        address: str = "",
        role: str = "",
        capabilities: Sequence[str] = (),
        ttl_s: float | None = 30.0,
    ) -> AgentEntry:
        """Put ``agent`` in the space's registry; presence lasts ``ttl_s`` unless renewed."""
        body = {
            "address": address,
            "role": role,
            "capabilities": list(capabilities),
            "ttl_s": ttl_s,
        }
        return AgentEntry.model_validate_json(
            await self._call("PUT", _agent_in(space, agent), body)
        )

    async def heartbeat(self, space: str, agent: str) -> float:
        """Renew ``agent``'s presence; returns the seconds it now lasts."""
        content = await self._call("POST", _agent_in(space, agent) + "/heartbeat")
        ttl_s = json.loads(content)["ttl_s"]
        return float("inf") if ttl_s is None else float(ttl_s)

    async def deregister(self, space: str, agent: str) -> None:
        """Remove ``agent`` from the registry."""
        await self._call("DELETE", _agent_in(space, agent))

    async def agents(self, space: str, *, at: At = None) -> list[AgentEntry]:
        """The space's registry, with presence."""
        content = await self._call("GET", f"{_space(space)}/agents", params={"at": _at(at)})
        return _AGENTS.validate_json(content)

    async def send(
        self,
        space: str,
        *,
        sender: str,
        to: str | None = None,
        topic: str | None = None,
        content: str | None = None,
        metadata: dict[str, Any] | None = None,
        key: str | None = None,
        ref_key: str | None = None,
        ref_region: DataRegion = DataRegion.MEMORY,
    ) -> CommRecord:
        """Send to an agent (``to``) or a ``topic``: new ``content`` or a ``ref_key``."""
        body = {
            "sender": sender,
            "to": to,
            "topic": topic,
            "content": content,
            "metadata": metadata,
            "key": key,
            "ref_key": ref_key,
            "ref_region": ref_region,
        }
        reply = await self._call("POST", f"{_space(space)}/messages", body)
        return CommRecord.model_validate_json(reply)

    async def subscribe(self, space: str, agent: str, topics: Sequence[str]) -> list[str]:
        """Set the topics ``agent`` follows (it always gets its own directed messages)."""
        body = {"topics": list(topics)}
        content = await self._call("PUT", _agent_in(space, agent) + "/topics", body)
        return [str(topic) for topic in json.loads(content)["topics"]]

    async def messages(
        self, space: str, agent: str, *, after: int | None = None, limit: int = 1000
    ) -> list[CommRecord]:
        """Messages for ``agent`` after revision ``after`` (default: its cursor)."""
        params = {"after": after, "limit": limit}
        content = await self._call("GET", _agent_in(space, agent) + "/messages", params=params)
        return _COMMS.validate_json(content)

    def listen(
        self, space: str, agent: str, *, after: int | None = None
    ) -> AsyncIterator[CommRecord]:
        """Messages for ``agent`` after ``after`` (default: its cursor), then live.

        Reconnects after a dropped connection, resuming after the last revision it
        delivered. Close it with ``aclose()``.
        """
        return self._listen(_agent_in(space, agent) + "/stream", after)

    async def ack(self, space: str, agent: str, revision: int) -> int:
        """Store ``agent``'s cursor: it has handled every message up to ``revision``."""
        body = {"revision": revision}
        content = await self._call("POST", _agent_in(space, agent) + "/cursor", body)
        return int(json.loads(content)["revision"])

    async def cursor(self, space: str, agent: str) -> int:
        """The revision ``agent`` last acknowledged (0 if none)."""
        content = await self._call("GET", _agent_in(space, agent) + "/cursor")
        return int(json.loads(content)["revision"])

    async def trace(
        self,
        space: str,
        *,
        since: float | None = None,
        until: float | None = None,
        agent: str | None = None,
        topic: str | None = None,
        limit: int = 1000,
    ) -> list[CommRecord]:
        """The conversation log in revision order, by time range, agent and topic."""
        params = {"since": since, "until": until, "agent": agent, "topic": topic, "limit": limit}
        content = await self._call("GET", f"{_space(space)}/trace", params=params)
        return _COMMS.validate_json(content)

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
        at: At = None,
        now: dt.datetime | None = None,
    ) -> list[SearchHit]:
        """The ``k`` best records of ``space`` for ``query``, lane by lane."""
        params = {
            "q": query,
            "k": k,
            "mode": mode,
            "agent": agent,
            "thread": thread,
            "resource": resource,
            "at": _at(at),
            "now": None if now is None else now.isoformat(),
        }
        content = await self._call("GET", f"{_space(space)}/search", params=params)
        return _HITS.validate_json(content)

    async def set_recall(self, space: str, settings: RecallSettings) -> SpaceInfo:
        """Choose the space's embedder and indexing policy (owner only)."""
        body = settings.model_dump(mode="json")
        content = await self._call("PUT", f"{_space(space)}/recall", body)
        return SpaceInfo.model_validate_json(content)

    async def index_status(self, space: str) -> IndexStatus:
        """The space's search index on the server: what serves searches, any rebuild."""
        return IndexStatus.model_validate_json(await self._call("GET", f"{_space(space)}/index"))

    # transport ----------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
    ) -> bytes:
        """Make one request; the response body, or the error it reports raised."""
        content = None if body is None else _encode(body)
        headers = None if body is None else {"Content-Type": "application/json"}
        try:
            response = await self._client.request(
                method, path, content=content, headers=headers, params=_query(params)
            )
        except httpx.TransportError as exc:
            sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            raise StoreUnavailable(
                f"server {self.base_url} unreachable: {_describe(exc)}",
                outcome_unknown=sent and method not in _READS,
            ) from exc
        if response.is_error:
            raise _error(response)
        return response.content

    async def _listen(self, path: str, after: int | None) -> AsyncIterator[CommRecord]:
        last = after
        delay_s = _BACKOFF_FIRST_S
        failing_since: float | None = None
        while True:
            headers = {"Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            try:
                async with self._client.stream(
                    "GET", path, headers=headers, timeout=self._stream_timeout
                ) as response:
                    if response.is_error:
                        await response.aread()
                        raise _error(response)
                    failing_since, delay_s = None, _BACKOFF_FIRST_S
                    async for name, data in _sse_events(response.aiter_lines()):
                        if name == "error":
                            raise _wire_error(data, response.status_code)
                        if name != "message":
                            continue
                        record = CommRecord.model_validate_json(data)
                        if last is None or record.revision > last:
                            last = record.revision
                            yield record
                problem = "the server ended the stream"
            except httpx.TransportError as exc:
                problem = _describe(exc)
            except StoreUnavailable as exc:
                problem = str(exc)
            now = time.monotonic()
            failing_since = now if failing_since is None else failing_since
            if (
                self.reconnect_timeout_s is not None
                and now - failing_since > self.reconnect_timeout_s
            ):
                raise StoreUnavailable(f"server {self.base_url} unreachable: {problem}")
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, _BACKOFF_MAX_S)


async def _sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    """``(event name, data)`` for each event in a ``text/event-stream``."""
    name, data = "message", list[str]()
    async for line in lines:
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)


def _error(response: httpx.Response) -> NucleusMemError:
    """The error an error response reports."""
    return _wire_error(response.text, response.status_code)


def _wire_error(text: str, status: int) -> NucleusMemError:
    try:
        body = json.loads(text)
        detail = body.get("detail")
        return error_from_wire(
            str(body["error"]), str(body["message"]), detail if isinstance(detail, dict) else None
        )
    except (ValueError, KeyError, TypeError):
        if status == 503:
            return StoreUnavailable(f"HTTP 503: {text[:200]}")
        return NucleusMemError(f"HTTP {status}: {text[:200]}")


def _describe(exc: httpx.TransportError) -> str:
    return str(exc) or type(exc).__name__


def _encode(body: dict[str, Any]) -> bytes:
    try:
        return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"the request cannot be sent as JSON: {exc}") from None


def _dump(write: RecordWrite | dict[str, Any]) -> Any:
    return write.model_dump(mode="json") if isinstance(write, BaseModel) else write


def _query(params: dict[str, Any] | None) -> dict[str, str] | None:
    if params is None:
        return None
    return {name: str(value) for name, value in params.items() if value is not None}


def _at(at: At) -> str | None:
    if at is None:
        return None
    if isinstance(at, dt.datetime):
        return (at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)).isoformat()
    if isinstance(at, bool) or not isinstance(at, int):
        raise InvalidRequest(f"at must be a revision or a datetime, got {at!r}")
    return str(at)


def _seg(text: str) -> str:
    return quote(text, safe="")


def _space(space: str) -> str:
    return f"/spaces/{_seg(check_space_name(space))}"


def _agent(agent: str) -> str:
    return _seg(check_name("agent", agent))


def _agent_in(space: str, agent: str) -> str:
    return f"{_space(space)}/agents/{_agent(agent)}"


def _records(space: str, region: DataRegion) -> str:
    return f"{_space(space)}/regions/{_region(region)}/records"


def _region(region: DataRegion | str) -> str:
    try:
        return DataRegion(region).value
    except ValueError:
        raise InvalidRequest(f"unknown region {region!r}") from None


def _key(key: str) -> str:
    return quote(check_record_key(key), safe="/")
