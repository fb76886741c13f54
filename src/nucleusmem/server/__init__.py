"""The HTTP server: the space layer's calls as a JSON API with server-sent events.

`create_app` builds the FastAPI application over a `MemSpaceService`; `serve` opens a
store and runs it with uvicorn until SIGTERM or SIGINT.
"""

from __future__ import annotations

from nucleusmem.server._app import DEFAULT_MAX_BODY_BYTES, create_app
from nucleusmem.server._run import AppServer, serve
from nucleusmem.server._sse import StreamRegistry

__all__ = ["DEFAULT_MAX_BODY_BYTES", "AppServer", "StreamRegistry", "create_app", "serve"]
