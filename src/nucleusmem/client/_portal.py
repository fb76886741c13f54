"""`Portal`: a private event loop on a daemon thread, so sync code can run coroutines.

The sync client runs every call of its async twin here, which keeps one implementation
of the SDK. The loop is the client's own: the store, the service and any HTTP
connections live on it, whatever thread calls the sync methods.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["Portal"]

_T = TypeVar("_T")


class Portal:
    """An event loop running on its own daemon thread until `close`."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name="nucleusmem-client", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and wait for its result (Ctrl-C cancels it)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a sync NucleusMem call cannot be made from its own loop")
        if self._closing:
            coro.close()
            raise RuntimeError("the client is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def next(self, source: AsyncIterator[_T]) -> _T:
        """The next item of an async iterator; `StopIteration` once it is exhausted."""
        try:
            return self.run(_next(source))
        except StopAsyncIteration:
            raise StopIteration from None

    def iterate(self, source: AsyncIterator[_T]) -> Iterator[_T]:
        """Drive an async iterator from sync code; closing the iterator closes ``source``."""
        try:
            while True:
                try:
                    item = self.run(_next(source))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            close = getattr(source, "aclose", None)
            usable = not self._closing and threading.current_thread() is not self._thread
            if close is not None and usable:
                self.run(close())

    def close(self) -> None:
        """Stop the loop, cancel what is left on it, and join the thread."""
        if self._closing:
            return
        self._closing = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            try:
                tasks = asyncio.all_tasks(self._loop)
                for task in tasks:
                    task.cancel()
                if tasks:
                    gathered = asyncio.gather(*tasks, return_exceptions=True)
                    self._loop.run_until_complete(gathered)
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
                self._loop.run_until_complete(self._loop.shutdown_default_executor())
            finally:
                self._loop.close()


async def _next(source: AsyncIterator[_T]) -> _T:
    return await anext(source)
