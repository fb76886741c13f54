"""`AsyncListener`: an agent's messages as an async iterator, optionally acknowledged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

from nucleusmem.space._api import SpaceAPI
from nucleusmem.space._models import CommRecord

__all__ = ["AsyncListener"]


class AsyncListener:
    """The messages for one agent in one space: first the backlog, then live.

    Iterate it with ``async for``. It starts after revision ``after``, or after the
    agent's stored cursor when ``after`` is None. With ``auto_ack`` it stores the cursor
    for you: asking for the next message acknowledges the previous one, and closing
    acknowledges the last one, so a restarted agent resumes after what it handled.
    Leaving an ``async with`` block because of an exception does not acknowledge the
    message being handled; it is delivered again next time.

    Creating a listener does no I/O; the stream opens on the first ``__anext__``.
    """

    def __init__(
        self, api: SpaceAPI, space: str, agent: str, *, after: int | None, auto_ack: bool
    ) -> None:
        self.space = space
        """The space listened to."""
        self.agent = agent
        """The agent whose messages these are."""
        self.auto_ack = auto_ack
        """Whether handled messages are acknowledged for the agent (its cursor moves)."""
        self._api = api
        self._after = after
        self._source: AsyncIterator[CommRecord] | None = None
        self._unacked: int | None = None
        self._closed = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> CommRecord:
        if self._closed:
            raise StopAsyncIteration
        await self._ack_handled()
        if self._source is None:
            self._source = aiter(self._api.listen(self.space, self.agent, after=self._after))
        message = await anext(self._source)
        if self.auto_ack:
            self._unacked = message.revision
        return message

    async def aclose(self) -> None:
        """Stop listening; with ``auto_ack``, acknowledge the last message delivered."""
        await self._close(ack=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close(ack=exc_type is None)

    async def _ack_handled(self) -> None:
        if self._unacked is not None:
            revision, self._unacked = self._unacked, None
            await self._api.ack(self.space, self.agent, revision)

    async def _close(self, *, ack: bool) -> None:
        if self._closed:
            return
        self._closed = True
        source, self._source = self._source, None
        try:
            if ack:
                await self._ack_handled()
        finally:
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()

    def __repr__(self) -> str:
        return f"<AsyncListener {self.agent!r} in {self.space!r}>"
