"""The seed's examples as programs: worker, consumer, FastAPI proxy and consume.py, through a bridging fake gateway."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fake_gateway import FakeGateway

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
from seed_worker import anna_karenina  # noqa: E402


@pytest.fixture
async def bridge() -> AsyncIterator[FakeGateway]:
    fake = FakeGateway(heartbeat_ms=500, max_chunk_bytes=1024 * 1024, bridge=True)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    assert not fake.violations, "\n".join(fake.violations)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def program(gateway: FakeGateway, *args: str, port: int | None = None) -> asyncio.subprocess.Process:
    env = {**os.environ, "CHUTE_GATEWAY_URL": gateway.url, "PYTHONUNBUFFERED": "1"}
    env.pop("CHUTE_TOKEN", None)
    if port is not None:
        env["PORT"] = str(port)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=EXAMPLES,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process, timeout: float = 30) -> tuple[int, str, str]:
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def wait_listening(port: int, process: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(20):
        while True:
            assert process.returncode is None, "the proxy exited"
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            return


async def test_the_seed_runs_end_to_end_and_the_worker_drains_on_sigterm(bridge: FakeGateway) -> None:
    worker = await program(bridge, "seed_worker.py")
    proxy = None
    try:
        connection = await bridge.next_connection(timeout=20)
        register = await connection.next("register")
        assert register == {"type": "register", "name": "stream-worker", "tasks": ["stream_task"], "slots": 100}

        port = free_port()
        proxy = await program(bridge, "-m", "uvicorn", "seed_proxy:app", "--port", str(port), "--log-level", "warning")
        await wait_listening(port, proxy)

        async def curl() -> str:
            async with (
                httpx.AsyncClient(timeout=30) as client,
                client.stream("GET", f"http://127.0.0.1:{port}/stream") as response,
            ):
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/plain")
                return "".join([text async for text in response.aiter_text()])

        consumer = await program(bridge, "seed_consumer.py")
        consume = await program(bridge, "consume.py", "stream_task")
        proxied = asyncio.create_task(curl())

        await connection.next("chunk", timeout=20)
        worker.send_signal(signal.SIGTERM)  # mid-run: the worker drains, the runs still complete
        await connection.next("drain")

        assert await finished(consumer) == (0, anna_karenina, "")
        code, out, err = await finished(consume)
        assert (code, out) == (0, anna_karenina), err
        assert await asyncio.wait_for(proxied, 30) == anna_karenina

        code, _, err = await finished(worker)
        assert code == 0, err
        assert await connection.wait_closed() == 1000
        assert sum(1 for m in connection.log if m["type"] == "completed") == 3
        # The seed's consumer and proxy trigger through the task (its options go along); consume.py by name.
        bodies = sorted((body for _, body, _ in bridge.triggers), key=len)
        assert bodies == [{"input": {}}] + [{"input": {}, "retries": 0, "executionTimeoutMs": 300_000}] * 2
        assert "stream-worker" in err and "registered" in err  # start() logs when the script did not configure logging
    finally:
        for process in (worker, proxy):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()


async def test_the_worker_exits_cleanly_on_sigint_when_idle(bridge: FakeGateway) -> None:
    worker = await program(bridge, "seed_worker.py")
    connection = await bridge.next_connection(timeout=20)
    await connection.next("register")
    await asyncio.sleep(0.2)
    worker.send_signal(signal.SIGINT)
    code, _, err = await finished(worker)
    assert code == 0, err
    assert await connection.wait_closed() == 1000
    assert [m["type"] for m in connection.log if m["type"] != "heartbeat"] == ["register", "drain"]


async def test_consume_exits_1_when_the_run_fails(bridge: FakeGateway) -> None:
    worker_code = (
        "from chute import Chute, Context, EmptyModel, NonRetryableError\n"
        "hatchet = Chute()\n"
        "@hatchet.task(name='fails')\n"
        "async def fails(input: EmptyModel, ctx: Context) -> None:\n"
        "    await ctx.aio_put_stream(b'partial \\xc3\\xa9')\n"
        "    raise NonRetryableError('no luck')\n"
        "hatchet.worker('failing-worker', workflows=[fails]).start()\n"
    )
    worker = await program(bridge, "-c", worker_code)
    try:
        connection = await bridge.next_connection(timeout=20)
        await connection.next("register")
        code, out, err = await finished(await program(bridge, "consume.py", "fails"))
        assert (code, out) == (1, "partial é")
        assert "ended FAILED: NonRetryableError: no luck" in err
    finally:
        worker.send_signal(signal.SIGTERM)
        await finished(worker)
