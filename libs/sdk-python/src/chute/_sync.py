"""Running the SDK's coroutines from synchronous code, on one long-lived event loop per client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_STOP_TIMEOUT = 5.0
"""Seconds closing waits for the loop's thread to close its connections."""


def refuse_in_running_loop(coro: Coroutine[Any, Any, Any], async_name: str) -> None:
    """Raise when called from a coroutine: there the caller must ``await`` the ``aio_`` variant.

    Blocking there would stall the caller's loop, or deadlock on it.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    coro.close()
    raise RuntimeError(f"called from a running event loop: use `await {async_name}(...)` instead")


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """The loop thread's body: run until stopped, then close what the loop holds, as ``asyncio.run`` does."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            # The HTTP pools of this loop close here (see chute._sessions): their sockets are not left to the GC.
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed already
        loop.call_soon_threadsafe(loop.stop)
    if thread is not threading.current_thread():
        thread.join(_STOP_TIMEOUT)


class SyncLoop:
    """An event loop in a daemon thread, started at the first blocking call, where those calls run.

    One loop for all of a client's blocking calls lets them share its connection pool: a
    fresh loop per call (``asyncio.run``) would open, and pay for, new connections every time.
    Calls from several threads at once run concurrently on it. The thread is stopped by
    :meth:`close`, when its owner is garbage-collected, or at interpreter exit; a later call
    starts a new one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def run(self, coro: Coroutine[Any, Any, T], async_name: str) -> T:
        """Run ``coro`` on the loop thread and return its result (refused from a running loop)."""
        refuse_in_running_loop(coro, async_name)
        future = asyncio.run_coroutine_threadsafe(coro, self._running_loop())
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt in the caller: the call must not go on alone
            raise

    def close(self) -> None:
        """Stop the thread after closing the loop's connections; idempotent."""
        with self._lock:
            finalizer, self._finalizer, self._loop = self._finalizer, None, None
        if finalizer is not None:
            finalizer()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and self._pid == os.getpid():
            return loop
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                if self._finalizer is not None:
                    # A forked child: the parent's loop thread does not exist here, there is nothing to stop.
                    self._finalizer.detach()
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_serve, args=(loop,), name="chute-sync-loop", daemon=True)
                thread.start()
                # Not a method of self: the thread and the finalizer must not keep the owner alive.
                self._finalizer = weakref.finalize(self, _stop, loop, thread)
                self._loop, self._pid = loop, os.getpid()
            return self._loop
