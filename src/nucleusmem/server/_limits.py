"""`BodyLimit`: refuse request bodies over a size limit, as pure ASGI middleware.

A declared ``Content-Length`` over the limit is answered 413 before the app runs. A
body without one (chunked) is counted as it streams; once it passes the limit the
middleware answers 413 itself and tells the app the client went away, so the app
stops reading and whatever it then tries to send is dropped.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit"]


class BodyLimit:
    """ASGI middleware answering 413 for request bodies over ``max_body_bytes``."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        """The largest request body accepted, in bytes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, unless its body is or becomes too large."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is None:
            await _answer(send, 400, "InvalidRequest", "Content-Length is not a number")
            return
        if declared > self.max_body_bytes:
            await _answer(send, 413, "InvalidRequest", self._too_large(declared))
            return

        received = 0
        refused = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    refused = True
                    if not started:
                        await _answer(send, 413, "InvalidRequest", self._too_large(received))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    def _too_large(self, size: int) -> str:
        return f"the request body is over {self.max_body_bytes} bytes (at least {size})"


def _content_length(scope: Scope) -> int | None:
    """The declared body size (0 if none declared), or None if it is not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return 0


async def _answer(send: Send, status: int, error: str, message: str) -> None:
    body = json.dumps({"error": error, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
