"""Running the SDK's coroutines from synchronous code."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T], async_name: str) -> T:
    """Run ``coro`` to its end in a new event loop and return its result.

    Refuses (rather than blocking the loop, or deadlocking on it) when called from a
    coroutine: there the caller must ``await`` the ``aio_`` variant, named in the error.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError(f"called from a running event loop: use `await {async_name}(...)` instead")
