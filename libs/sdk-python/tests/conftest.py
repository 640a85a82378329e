from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import pytest

from chute import Chute, Task, Worker

from fake_gateway import FakeGateway

StartWorker = Callable[..., Awaitable[tuple[Worker, "asyncio.Task[None]"]]]


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    fake = FakeGateway()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    assert not fake.violations, "the SDK sent messages the protocol does not allow:\n" + "\n".join(fake.violations)


@pytest.fixture
def client(gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch) -> Iterator[Chute]:
    monkeypatch.setenv("CHUTE_GATEWAY_URL", gateway.url)
    monkeypatch.setenv("CHUTE_TOKEN", "secret-token")
    chute = Chute()
    yield chute
    chute.close()  # the blocking calls' loop thread, if a test made one


@pytest.fixture
async def start_worker() -> AsyncIterator[StartWorker]:
    """Start workers in the test's loop; stop whatever is still running at the end."""
    running: list[tuple[Worker, asyncio.Task[None]]] = []

    async def start(
        client: Chute, tasks: Sequence[Task[Any, Any]], **options: Any
    ) -> tuple[Worker, asyncio.Task[None]]:
        options.setdefault("handle_signals", False)
        worker = client.worker("test-worker", workflows=tasks, **options)
        handle = asyncio.create_task(worker.async_start())
        running.append((worker, handle))
        return worker, handle

    yield start
    for worker, handle in running:
        worker.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(handle, 10)
