"""`create_app`: the HTTP API of one `MemSpaceService`, as a FastAPI application.

Every `SpaceAPI` call has a JSON route under ``/v1``; a principal authenticates with
``Authorization: Bearer <token>``. Errors are answered with one shape, whatever
raised them::

    {"error": "<class name in nucleusmem.errors>", "message": "..."}

with the status the error class names (``http_status``). ``/healthz`` (the process is
up) and ``/readyz`` (the store answers) need no token.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pydantic
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from nucleusmem import __version__
from nucleusmem.errors import NucleusMemError, error_detail
from nucleusmem.recall._service import RecallService
from nucleusmem.server import _routes_comm, _routes_recall, _routes_records, _routes_spaces
from nucleusmem.server._deps import ERROR_RESPONSES, ErrorBody
from nucleusmem.server._limits import BodyLimit
from nucleusmem.server._sse import StreamRegistry

if TYPE_CHECKING:
    from nucleusmem.space import MemSpaceService

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]

DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
"""The default limit on a request body: 2 MiB, above the largest batch write."""

_log = logging.getLogger("nucleusmem.server")

_HTTP_ERRORS = {404: "NotFound", 405: "InvalidRequest", 413: "InvalidRequest"}

_ROUTE_METHODS = [
    (compile_path("/v1" + route.path)[0], route.methods or set())
    for module in (_routes_spaces, _routes_records, _routes_comm, _routes_recall)
    for route in module.router.routes
    if isinstance(route, APIRoute)
]
"""The path pattern and methods of every ``/v1`` route, for the ``Allow`` header."""


def create_app(
    service: MemSpaceService,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    keepalive_s: float = 15.0,
    recall: RecallService | None = None,
) -> FastAPI:
    """The HTTP API over ``service`` (which the caller starts and closes).

    ``max_body_bytes`` bounds request bodies (413 beyond); ``keepalive_s`` is how often
    an idle event stream sends a keepalive comment. ``app.state.streams`` is the
    `StreamRegistry` of open event streams; call its ``close_all`` before shutdown.
    ``recall`` serves searches (default: one on ``service`` with the hashing embedder).
    """
    app = FastAPI(
        title="NucleusMem",
        version=__version__,
        description="Versioned MemSpaces that AI agents mount, share and talk through.",
    )
    app.state.service = service
    app.state.keepalive_s = keepalive_s
    app.state.recall = recall or RecallService(service)
    app.state.streams = StreamRegistry(on_close=service.watcher.end_all)
    for module in (_routes_spaces, _routes_records, _routes_comm, _routes_recall):
        app.include_router(module.router, prefix="/v1", responses=ERROR_RESPONSES)
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["health"])
    app.add_api_route(
        "/readyz",
        readyz,
        methods=["GET"],
        tags=["health"],
        responses={503: {"model": ErrorBody, "description": "The store is not reachable"}},
    )
    app.add_exception_handler(NucleusMemError, _nucleusmem_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(pydantic.ValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(UnicodeError, _unicode_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(BodyLimit, max_body_bytes=max_body_bytes)
    return app


async def healthz() -> dict[str, str]:
    """The process is up (no store access, no token)."""
    return {"status": "ok"}


async def readyz(request: Request) -> dict[str, str]:
    """The store answers; 503 (StoreUnavailable) if it does not."""
    await request.app.state.service.ready()
    return {"status": "ready"}


def _error(
    status: int, error: str, message: str, detail: dict[str, object] | None = None
) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    content: dict[str, object] = {"error": error, "message": message}
    if detail:
        content["detail"] = detail
    return JSONResponse(status_code=status, content=content, headers=headers)


async def _nucleusmem_error(request: Request, exc: NucleusMemError) -> JSONResponse:
    return _error(exc.http_status, type(exc).__name__, str(exc), error_detail(exc))


async def _validation_error(
    request: Request, exc: RequestValidationError | pydantic.ValidationError
) -> JSONResponse:
    problems = [
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        for error in exc.errors()[:10]
    ]
    return _error(422, "InvalidRequest", "; ".join(problems) or "invalid request")


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    error = _HTTP_ERRORS.get(exc.status_code, "NucleusMemError")
    response = _error(exc.status_code, error, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path (Starlette names only the first route's)."""
    path = request.url.path
    allowed = {m for pattern, methods in _ROUTE_METHODS if pattern.match(path) for m in methods}
    return sorted(allowed)


async def _unicode_error(request: Request, exc: UnicodeError) -> JSONResponse:
    return _error(400, "InvalidRequest", f"text must be valid Unicode: {exc}")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    _log.error("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "NucleusMemError", "internal server error")
