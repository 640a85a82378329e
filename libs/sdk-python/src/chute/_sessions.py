"""One aiohttp session (a pool of connections) per event loop, closed with its loop or its owner."""

from __future__ import annotations

import asyncio
import sys
import threading
import weakref
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(eq=False)
class _Pool:
    session: aiohttp.ClientSession
    closer: AsyncGenerator[None, None]
    """Closes ``session`` when the loop shuts down its async generators, or when closed itself."""
    started: bool = False


# asyncio keeps only weak references to tasks: these are kept here until they end.
_closing: set[asyncio.Task[None]] = set()


class LoopSessions:
    """The sessions of one client, one per event loop: a session must not outlive its loop.

    Each session is closed when the first of these happens:

    - its loop shuts down the way ``asyncio.run`` does (``asyncio.Runner``, uvicorn and
      pytest-asyncio do the same): the one hook into a loop's end there is, its
      ``shutdown_asyncgens()``, closes a started async generator that closes the session;
    - :meth:`aclose` is called from its loop;
    - :meth:`close_soon` is called (by the owner's finalizer): its loop is asked to close it.

    A loop closed without that shutdown leaves its session's sockets to the garbage collector.
    """

    def __init__(self, factory: Callable[[], aiohttp.ClientSession]) -> None:
        self._factory = factory
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()
        # Loops of several threads share _pools. Reentrant: a closer collected by the garbage
        # collector while this thread holds the lock takes it again.
        self._lock = threading.RLock()

    async def get(self) -> aiohttp.ClientSession:
        """The running loop's session, made at the loop's first request."""
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is not None and pool.started:
            return pool.session
        with self._lock:
            self._forget_closed_loops()
            pool = self._pools.get(loop)
            if pool is None:
                session = self._factory()
                pool = self._pools[loop] = _Pool(session, self._close_at_shutdown(loop, session))
        if not pool.started:
            # Only this loop's coroutines see this pool, and nothing below suspends: it starts once.
            pool.started = True
            await _start(pool.closer)
        return pool.session

    async def aclose(self) -> None:
        """Close the running loop's session; a later request makes a new one."""
        pool = self._pools.get(asyncio.get_running_loop())
        if pool is not None:
            await pool.closer.aclose()  # its `finally` forgets the pool and closes the session

    def close_soon(self) -> None:
        """Ask each session's loop to close it (from any thread); those of closed loops are forgotten."""
        with self._lock:
            pools = list(self._pools.items())
        for loop, pool in pools:
            try:
                loop.call_soon_threadsafe(_close_in_loop, pool.closer)
            except RuntimeError:  # the loop is closed
                _finish_without_loop(pool.closer)

    async def _close_at_shutdown(
        self, loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                pool = self._pools.get(loop)
                if pool is not None and pool.session is session:
                    del self._pools[loop]
            # With its loop closed this does not suspend: aiohttp only marks the session closed,
            # and leaves the sockets to the garbage collector (there is no loop to close them in).
            await session.close()

    def _forget_closed_loops(self) -> None:
        for loop, pool in list(self._pools.items()):
            if loop.is_closed():
                _finish_without_loop(pool.closer)
                self._pools.pop(loop, None)  # a closer never started did not run its `finally`


def _close_in_loop(closer: AsyncGenerator[None, None]) -> None:
    task = asyncio.get_running_loop().create_task(closer.aclose())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


async def _start(closer: AsyncGenerator[None, None]) -> None:
    """Run ``closer`` to its ``yield``: the running loop then knows it, and closes it when it shuts down.

    The loop's finalizer for it is wrapped: when the generator is collected after its loop
    was closed without that shutdown, the loop's own would fail with "Event loop is closed".
    """
    firstiter, finalizer = sys.get_asyncgen_hooks()
    if finalizer is None:
        await anext(closer)
        return
    loop_finalizer = finalizer

    def finalize(agen: AsyncGenerator[Any, Any]) -> None:
        try:
            loop_finalizer(agen)
        except RuntimeError:
            _finish_without_loop(agen)

    # Set for this thread, and for no other coroutine: reaching the `yield` does not suspend.
    sys.set_asyncgen_hooks(firstiter, finalize)
    try:
        await anext(closer)
    finally:
        sys.set_asyncgen_hooks(firstiter, finalizer)


def _finish_without_loop(closer: AsyncGenerator[Any, Any]) -> None:
    """Run a closer's ``finally`` synchronously: its loop is closed, so it does not suspend."""
    step = closer.aclose()
    try:
        step.send(None)
    except (StopIteration, RuntimeError):
        return
    step.close()
