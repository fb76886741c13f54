"""Every HTTP route x {owner, rw member, ro member, stranger, no token, bad token}.

The table must name every route of the published OpenAPI spec, so a new route cannot
ship without its row. Each row says what the route needs of the space; the expected
answer follows from the caller's role: 401 without a valid token, 403 when the role
lacks the right, anything else but 401/403/5xx when it has it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from spaces import Deployment, deployment

ROLES = ["stranger", "ro", "rw", "none", "bad", "owner"]  # owner last: it may delete
PRINCIPALS = {"owner": "olga", "rw": "rita", "ro": "rob", "stranger": "sam"}

RECORD = {"key": "k", "content": "c"}
# (method, path, json body, need); {s} is the space, {a} an agent of the caller's own.
ROUTES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/v1/whoami", None, "any"),
    ("POST", "/v1/principals", {"name": "p-{a}"}, "admin"),
    ("POST", "/v1/principals/{a}/tokens", None, "admin"),
    ("GET", "/v1/spaces", None, "any"),
    ("POST", "/v1/spaces", {"name": "new-{a}"}, "any"),
    ("GET", "/v1/spaces/{s}", None, "read"),
    ("PUT", "/v1/spaces/{s}/members/extra", {"mode": "ro"}, "owner"),
    ("DELETE", "/v1/spaces/{s}/members/extra", None, "owner"),
    ("PUT", "/v1/agents/{a}/mounts/{s}", {"mode": "ro"}, "read"),
    ("GET", "/v1/agents/{a}/mounts", None, "any"),
    ("DELETE", "/v1/agents/{a}/mounts/{s}", None, "any"),
    (
        "POST",
        "/v1/spaces/{s}/regions/memory/records",
        {"records": [{"key": "k", "content": "c"}]},
        "write",
    ),
    ("GET", "/v1/spaces/{s}/regions/memory/records", None, "read"),
    ("GET", "/v1/spaces/{s}/regions/memory/records/seed", None, "read"),
    ("GET", "/v1/spaces/{s}/regions/memory/history/seed", None, "read"),
    ("DELETE", "/v1/spaces/{s}/regions/memory/records/k", None, "write"),
    ("GET", "/v1/spaces/{s}/diff?from_at=1", None, "read"),
    ("GET", "/v1/spaces/{s}/revision", None, "read"),
    ("PUT", "/v1/spaces/{s}/agents/{a}", {"role": "tester"}, "write"),
    ("POST", "/v1/spaces/{s}/agents/{a}/heartbeat", None, "write"),
    ("GET", "/v1/spaces/{s}/agents", None, "read"),
    ("POST", "/v1/spaces/{s}/messages", {"sender": "{a}", "topic": "t", "content": "hi"}, "write"),
    ("PUT", "/v1/spaces/{s}/agents/{a}/topics", {"topics": ["t"]}, "read"),
    ("GET", "/v1/spaces/{s}/agents/{a}/messages", None, "read"),
    ("GET", "/v1/spaces/{s}/agents/{a}/stream", None, "read"),
    ("POST", "/v1/spaces/{s}/agents/{a}/cursor", {"revision": 1}, "read"),
    ("GET", "/v1/spaces/{s}/agents/{a}/cursor", None, "read"),
    ("GET", "/v1/spaces/{s}/trace", None, "read"),
    ("GET", "/v1/spaces/{s}/search?q=seed", None, "read"),
    ("GET", "/v1/spaces/{s}/index", None, "read"),
    ("PUT", "/v1/spaces/{s}/recall", {"min_chars": 20}, "owner"),
    ("DELETE", "/v1/spaces/{s}/agents/{a}", None, "write"),
    ("DELETE", "/v1/spaces/{s}", None, "owner"),
]
PUBLIC = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def allowed(role: str, need: str, private: bool) -> bool:
    """Whether ``role`` may call a route that needs ``need``."""
    if need == "any":
        return True
    if need == "admin":
        return False
    if role == "owner":
        return True
    if private or role == "stranger":
        return False
    return need == "read" or (need == "write" and role == "rw")


@pytest.fixture
async def dep(tmp_path: Path) -> AsyncIterator[Deployment]:
    """A remote deployment with the four principals and two spaces."""
    async with deployment("remote", f"sqlite://{tmp_path / 'acl.db'}") as d:
        for principal in PRINCIPALS.values():
            await d.connect(principal)
        owner = await d.connect("olga")
        for name, kind in (("team", "shared"), ("diary", "private")):
            members = {"rita": "rw", "rob": "ro"} if kind == "shared" else None
            await owner.create_space(name, kind=kind, members=members)
            await owner.space(name).put("seed", "x")
        yield d


def spec_routes(openapi: dict[str, Any]) -> set[tuple[str, str]]:
    """(method, path) of every operation, with path parameters blanked."""
    return {
        (method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
        for path, ops in openapi["paths"].items()
        for method in ops
        if path not in PUBLIC
    }


async def test_every_route_is_in_the_matrix(dep: Deployment) -> None:
    assert dep.url is not None
    async with httpx.AsyncClient(base_url=dep.url) as http:
        openapi = (await http.get("/openapi.json")).json()
    table = {
        (m, re.sub(r"\{[^}]+\}", "{}", p.split("?")[0]).replace("/extra", "/{}"))
        for m, p, _, _ in ROUTES
    }
    table = {(m, re.sub(r"/(seed|k|memory)(?=/|$)", "/{}", p)) for m, p in table}
    assert spec_routes(openapi) == table


@pytest.mark.parametrize("space", ["team", "diary"])
async def test_access_matrix(dep: Deployment, space: str) -> None:
    assert dep.url is not None
    wrong: list[str] = []
    async with httpx.AsyncClient(base_url=dep.url, timeout=10) as http:
        for method, path, body, need in ROUTES:
            for role in ROLES:
                agent = f"{role}-agent"
                url = path.format(s=space, a=agent)
                data = _fill(body, agent)
                headers = {}
                if role == "bad":
                    headers["Authorization"] = "Bearer nm_not-a-token"
                elif role != "none":
                    headers["Authorization"] = f"Bearer {dep.tokens[PRINCIPALS[role]]}"
                async with http.stream(method, url, json=data, headers=headers) as response:
                    status = response.status_code
                if role in ("none", "bad"):
                    expected_ok = status == 401
                elif allowed(role, need, space == "diary"):
                    expected_ok = status not in (401, 403) and status < 500
                else:
                    expected_ok = status == 403
                if not expected_ok:
                    wrong.append(f"{method} {url} as {role}: {status}")
    assert not wrong, "\n".join(wrong)


def _fill(body: dict[str, Any] | None, agent: str) -> dict[str, Any] | None:
    if body is None:
        return None
    return {k: (v.format(a=agent) if isinstance(v, str) else v) for k, v in body.items()}
