"""The worker against a fake gateway: every message it sends is checked against the protocol's JSON Schema."""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time

import pytest
from pydantic import BaseModel, ConfigDict, Field

from chute import (
    AttemptCancelledError,
    ChunkTooLargeError,
    Chute,
    Context,
    EmptyModel,
    NonRetryableError,
)

from conftest import StartWorker
from fake_gateway import FakeGateway


class Greeting(BaseModel):
    name: str
    times: int = 1


class Reply(BaseModel):
    text: str


async def test_registers_with_its_tasks_and_token_then_heartbeats(
    gateway: FakeGateway, client: Chute, start_worker: StartWorker
) -> None:
    @client.task()
    async def first(input: EmptyModel, ctx: Context) -> None:
        pass

    @client.task(name="second.task")
    async def other(input: EmptyModel, ctx: Context) -> None:
        pass

    await start_worker(client, [first, other], slots=7)
    connection = await gateway.next_connection()
    register = await connection.register()
    assert register == {"type": "register", "name": "test-worker", "tasks": ["first", "second.task"], "slots": 7}
    assert connection.headers["Authorization"] == "Bearer secret-token"
    await connection.next("heartbeat")
    await connection.next("heartbeat")


async def test_runs_an_assignment_started_chunks_in_order_completed(
    gateway: FakeGateway, client: Chute, start_worker: StartWorker
) -> None:
    @client.task()
    async def greet(input: Greeting, ctx: Context) -> Reply:
        for i in range(input.times):
            if i % 2:
                ctx.put_stream(f"{i}:{input.name} ")  # not awaited: still in call order
            else:
                await ctx.aio_put_stream(f"{i}:{input.name} ")
        await ctx.aio_put_stream("é".encode())
        return Reply(text=f"hello {input.name} from attempt {ctx.attempt_number} of {ctx.workflow_run_id}")

    await start_worker(client, [greet])
    connection = await gateway.registered_connection()
    run_id, _ = await connection.assign("greet", {"name": "ada", "times": 5})

    assert await connection.next() == {"type": "started", "runId": run_id, "attempt": 1}
    for i in range(5):
        chunk = await connection.next()
        assert chunk == {"type": "chunk", "runId": run_id, "attempt": 1, "data": f"{i}:ada ", "encoding": "utf8"}
    data = base64.b64encode("é".encode()).decode()
    assert await connection.next() == {
        "type": "chunk",
        "runId": run_id,
        "attempt": 1,
        "data": data,
        "encoding": "base64",
    }
    completed = await connection.next()
    assert completed == {
        "type": "completed",
        "runId": run_id,
        "attempt": 1,
        "output": {"text": f"hello ada from attempt 1 of {run_id}"},
    }


async def test_runs_attempts_concurrently_and_a_sync_task_in_a_thread(
    gateway: FakeGateway, client: Chute, start_worker: StartWorker
) -> None:
    threads: list[str] = []

    @client.task()
    def blocking(input: EmptyModel, ctx: Context) -> int:
        threads.append(threading.current_thread().name)
        for i in range(3):
            ctx.put_stream(f"b{i}")
            time.sleep(0.01)
        return 42

    await start_worker(client, [blocking])
    connection = await gateway.registered_connection()
    first, _ = await connection.assign("blocking")
    second, _ = await connection.assign("blocking")
    by_run: dict[str, list[str]] = {first: [], second: []}
    outputs = {}
    while len(outputs) < 2:
        message = await connection.next()
        if message["type"] == "chunk":
            by_run[message["runId"]].append(message["data"])
        elif message["type"] == "completed":
            outputs[message["runId"]] = message["output"]
    assert by_run == {first: ["b0", "b1", "b2"], second: ["b0", "b1", "b2"]}
    assert outputs == {first: 42, second: 42}
    assert all(name.startswith("chute-test-worker") for name in threads)


class Labelled(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    label_text: str = Field(alias="labelText")


async def test_outputs_are_sent_as_json_and_one_that_is_not_json_fails_without_retry(
    gateway: FakeGateway, client: Chute, start_worker: StartWorker
) -> None:
    @client.task()
    async def rich(input: EmptyModel, ctx: Context) -> dict[str, object]:
        return {"text": "naïve — ✓ \u2028", "model": Labelled(label_text="x"), "numbers": [1, 2.5, None, True]}

    @client.task()
    async def nothing(input: EmptyModel, ctx: Context) -> None:
        pass

    @client.task()
    async def not_a_number(input: EmptyModel, ctx: Context) -> float:
        return float("nan")

    @client.task()
    async def not_json(input: EmptyModel, ctx: Context) -> object:
        return object()

    await start_worker(client, [rich, nothing, not_a_number, not_json])
    connection = await gateway.registered_connection()
    expected = {"text": "naïve — ✓ \u2028", "model": {"labelText": "x"}, "numbers": [1, 2.5, None, True]}
    for task, output in (("rich", expected), ("nothing", None)):
        run_id, _ = await connection.assign(task)
        assert await connection.next() == {"type": "started", "runId": run_id, "attempt": 1}
        assert await connection.next() == {"type": "completed", "runId": run_id, "attempt": 1, "output": output}
    for task in ("not_a_number", "not_json"):
        run_id, _ = await connection.assign(task)
        assert (await connection.next())["type"] == "started"
        failed = await connection.next()
        assert (failed["type"], failed["runId"]) == ("failed", run_id)
        assert failed["error"]["name"] == "NonRetryableError"
        assert "not JSON-serializable" in failed["error"]["message"]
        assert failed["error"]["nonRetryable"] is True


async def test_a_failure_is_reported_with_its_error(
    gateway: FakeGateway, client: Chute, start_worker: StartWorker
) -> None:
    @client.task()
    async def flaky(input: EmptyModel, ctx: Context) -> None:
        await ctx.aio_put_stream("partial")
        raise RuntimeError("model overloaded")

    @client.task()
    async def hopeless(input: EmptyModel, ctx: Context) -> None:
        raise NonRetryableError("the document does not exist")

    await start_worker(client, [flaky, hopeless])
    connection = await gateway.registered_connection()

    run_id, _ = await connection.assign("flaky")
    assert (await connection.next())["type"] == "started"
    assert (await connection.next())["data"] == "partial"
    failed = await connection.next()
    assert failed["type"] == "failed" and failed["runId"] == run_id
    assert failed["error"]["name"] == "RuntimeError"
    assert failed["error"]["message"] == "model overloaded"
    assert failed["error"]["nonRetryable"] is False
    assert "model overloaded" in failed["error"]["stack"]

    run_id, _ = await connection.assign("hopeless")
    assert (await connection.next())["type"] == "started"
    failed = await connection.next()
    assert failed["runId"] == run_id
    assert failed["error"]["name"] == "NonRetryableError"
    assert failed["error"]["nonRetryable"] is True


async def test_an_input_that_does_not_fit_fails_without_retry(
    gateway: FakeGateway, client: Chute, start_worker: StartWorker
) -> None:
    @client.task()
    async def greet(input: Greeting, ctx: Context) -> None:
        pass

    await start_worker(client, [greet])
    connection = await gateway.registered_connection()
    await connection.assign("greet", {"times": "many"})
    assert (await connection.next())["type"] == "started"
    failed = await connection.next()
    assert failed["type"] == "failed"
    assert failed["error"]["nonRetryable"] is True
    assert "does not match Greeting" in failed["error"]["message"]


async def test_cancel_stops_the_task_and_nothing_more_is_sent(
    gateway: FakeGateway, client: Chute, start_worker: StartWorker
) -> None:
    cancelled = asyncio.Event()

    @client.task()
    async def endless(input: EmptyModel, ctx: Context) -> None:
        try:
            while True:
                await ctx.aio_put_stream("tick")
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            cancelled.set()
            ctx.put_stream("after cancel")  # raises: the attempt is over
            raise

    worker, _ = await start_worker(client, [endless])
    connection = await gateway.registered_connection()
    run_id, attempt = await connection.assign("endless")
    assert (await connection.next())["type"] == "started"
    assert (await connection.next())["data"] == "tick"
    await connection.send({"type": "cancel", "runId": run_id, "attempt": attempt, "reason": "run cancelled"})
    await asyncio.wait_for(cancelled.wait(), 2)
    count = len(connection.log)
    await asyncio.sleep(0.3)
    later = [m for m in connection.log[count:] if m["type"] != "heartbeat"]
    assert later == []
    assert not any(m["type"] in ("completed", "failed") for m in connection.log)
    assert worker.active_attempts == 0


async def test_an_attempt_cancelled_before_it_starts_leaves_the_worker_and_sends_nothing(
    gateway: FakeGateway, client: Chute, start_worker: StartWorker
) -> None:
    ran: list[str] = []

    @client.task()
    async def quick(input: EmptyModel, ctx: Context) -> str:
        ran.append(ctx.run_id)
        return "done"

    worker, handle = await start_worker(client, [quick])  # drain_timeout: the default 30 s
    connection = await gateway.registered_connection()
    # Back to back, so the worker reads both at once: the attempt's task is cancelled before its first step.
    cancelled, attempt = await connection.assign("quick")
    await connection.send({"type": "cancel", "runId": cancelled, "attempt": attempt, "reason": "run cancelled"})
    # A later attempt runs as usual. Its end reaches us loop turns after the cancelled task was
    # done, so the worker has let go of that one by now.
    served, _ = await connection.assign("quick")
    assert await connection.next() == {"type": "started", "runId": served, "attempt": 1}
    assert await connection.next() == {"type": "completed", "runId": served, "attempt": 1, "output": "done"}
    assert ran == [served]  # the cancelled attempt's task function never ran
    assert worker.active_attempts == 0

    # With nothing running the drain ends at once; the timeout (a third of the drain's) only guards a hang.
    await asyncio.wait_for(worker.aio_stop(), 10)
    assert await connection.wait_closed() == 1000
    await asyncio.wait_for(handle, 5)
    assert worker.state == "stopped"
    # Nothing is sent for an attempt cancelled before it started, as for any cancelled attempt.
    assert not any(m.get("runId") == cancelled for m in connection.log)
    assert [m["type"] for m in connection.log if m["type"] != "heartbeat"] == [
        "register",
        "started",
        "completed",
        "drain",
    ]


async def test_a_sync_task_stops_at_its_next_chunk_after_a_cancel(
    gateway: FakeGateway, client: Chute, start_worker: StartWorker
) -> None:
    stopped = threading.Event()

    @client.task()
    def endless(input: EmptyModel, ctx: Context) -> None:
        try:
            while True:
                ctx.put_stream("tick")
                time.sleep(0.01)
        except AttemptCancelledError:
            stopped.set()
            raise

    await start_worker(client, [endless])
    connection = await gateway.registered_connection()
    run_id, attempt = await connection.assign("endless")
    await connection.next("chunk")
    await connection.send({"type": "cancel", "runId": run_id, "attempt": attempt, "reason": "timed out"})
    assert await asyncio.to_thread(stopped.wait, 2)
    await asyncio.sleep(0.1)
    assert not any(m["type"] in ("completed", "failed") for m in connection.log)


async def test_an_oversize_chunk_raises_and_sends_nothing(
    gateway: FakeGateway, client: Chute, start_worker: StartWorker
) -> None:
    raised: list[ChunkTooLargeError] = []

    @client.task()
    async def big(input: EmptyModel, ctx: Context) -> str:
        await ctx.aio_put_stream("x" * gateway.max_chunk_bytes)  # exactly the limit: fine
        for chunk in ("é" * gateway.max_chunk_bytes, b"\0" * (gateway.max_chunk_bytes + 1)):
            try:
                await ctx.aio_put_stream(chunk)
            except ChunkTooLargeError as error:
                raised.append(error)
        try:
            ctx.put_stream("y" * (gateway.max_chunk_bytes + 1))
        except ChunkTooLargeError as error:
            raised.append(error)
        return "done"

    await start_worker(client, [big])
    connection = await gateway.registered_connection()
    await connection.assign("big")
    assert (await connection.next())["type"] == "started"
    assert len((await connection.next("chunk"))["data"]) == gateway.max_chunk_bytes
    assert (await connection.next())["type"] == "completed"
    assert [(e.size, e.limit) for e in raised] == [(128, 64), (65, 64), (65, 64)]
    assert "split it into smaller chunks" in str(raised[0])
    assert sum(1 for m in connection.log if m["type"] == "chunk") == 1


async def test_a_lost_connection_cancels_running_attempts_then_reconnects_and_registers_again(
    gateway: FakeGateway, client: Chute, start_worker: StartWorker
) -> None:
    cancelled = asyncio.Event()

    @client.task()
    async def slow(input: EmptyModel, ctx: Context) -> str:
        try:
            await ctx.aio_put_stream("working")
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    worker, _ = await start_worker(client, [slow], drain_timeout=0.2)
    first = await gateway.registered_connection()
    first_id = worker.worker_id
    await first.assign("slow")
    await first.next("chunk")
    await first.close(1001)
    await asyncio.wait_for(cancelled.wait(), 2)

    second = await gateway.next_connection()
    assert (await second.register())["tasks"] == ["slow"]
    await asyncio.sleep(0.05)
    assert worker.worker_id is not None and worker.worker_id != first_id
    assert not any(m["type"] in ("completed", "failed") for m in first.log + second.log)

    run_id, _ = await second.assign("slow")  # the new connection serves as the old one did
    assert await second.next() == {"type": "started", "runId": run_id, "attempt": 1}


async def test_a_protocol_violation_close_is_logged_loudly_and_the_worker_reconnects(
    gateway: FakeGateway, client: Chute, start_worker: StartWorker, caplog: pytest.LogCaptureFixture
) -> None:
    @client.task()
    async def noop(input: EmptyModel, ctx: Context) -> None:
        pass

    await start_worker(client, [noop])
    first = await gateway.registered_connection()
    with caplog.at_level(logging.ERROR, logger="chute.worker"):
        await first.close(1008, {"code": "INVALID_MESSAGE", "message": "chunk: data must be a string"})
        second = await gateway.registered_connection()
    assert second is not first
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("protocol violation" in e and "chunk: data must be a string" in e for e in errors), errors


async def test_rotates_through_the_gateway_list_on_reconnect(gateway: FakeGateway, start_worker: StartWorker) -> None:
    other = FakeGateway()
    await other.start()
    try:
        client = Chute(f"{other.url}, {gateway.url}")

        @client.task()
        async def noop(input: EmptyModel, ctx: Context) -> None:
            pass

        await start_worker(client, [noop])
        on_other = await other.registered_connection()
        await on_other.close(1013, {"code": "UNAVAILABLE", "message": "log unreachable"})
        await gateway.registered_connection()
    finally:
        await other.stop()
    assert not other.violations


async def test_no_answer_to_register_is_an_error_then_a_retry(
    gateway: FakeGateway, client: Chute, caplog: pytest.LogCaptureFixture
) -> None:
    @client.task()
    async def noop(input: EmptyModel, ctx: Context) -> None:
        pass

    worker = client.worker("test-worker", workflows=[noop], handle_signals=False)
    worker._register_timeout = 0.2  # the default 10 s is too long for a test
    handle = asyncio.create_task(worker.async_start())
    try:
        with caplog.at_level(logging.ERROR, logger="chute.worker"):
            silent = await gateway.next_connection()
            await silent.next("register")
            retry = await gateway.next_connection(timeout=3)
            await retry.register()
        assert any("no answer to `register` within 0.2s" in r.getMessage() for r in caplog.records)
    finally:
        worker.stop()
        await asyncio.wait_for(handle, 5)


async def test_stop_drains_waits_for_running_attempts_and_closes_normally(
    gateway: FakeGateway, client: Chute, start_worker: StartWorker
) -> None:
    release = asyncio.Event()

    @client.task()
    async def finishing(input: EmptyModel, ctx: Context) -> str:
        await release.wait()
        await ctx.aio_put_stream("last words")
        return "finished"

    worker, handle = await start_worker(client, [finishing])
    connection = await gateway.registered_connection()
    run_id, _ = await connection.assign("finishing")
    await connection.next("started")

    stopping = asyncio.create_task(worker.aio_stop())
    assert (await connection.next())["type"] == "drain"
    assert worker.state == "stopping"
    assert not handle.done()
    release.set()
    assert (await connection.next())["data"] == "last words"
    assert await connection.next() == {"type": "completed", "runId": run_id, "attempt": 1, "output": "finished"}
    assert await connection.wait_closed() == 1000
    await asyncio.wait_for(stopping, 2)
    await asyncio.wait_for(handle, 2)
    assert worker.state == "stopped"
    assert gateway.connections.empty()  # no reconnect after a stop


async def test_drain_gives_up_attempts_that_outlast_the_deadline(
    gateway: FakeGateway, client: Chute, start_worker: StartWorker
) -> None:
    @client.task()
    async def stuck(input: EmptyModel, ctx: Context) -> None:
        await asyncio.sleep(30)

    worker, handle = await start_worker(client, [stuck], drain_timeout=0.2)
    connection = await gateway.registered_connection()
    await connection.assign("stuck")
    await connection.next("started")
    started = time.monotonic()
    worker.stop()
    await connection.next("drain")
    assert await connection.wait_closed() == 1000
    await asyncio.wait_for(handle, 2)
    assert time.monotonic() - started < 2
    assert [m["type"] for m in connection.log if m["type"] != "heartbeat"] == ["register", "started", "drain"]


def test_worker_options_are_checked(client: Chute) -> None:
    from chute import WorkerConfigError

    @client.task()
    async def noop(input: EmptyModel, ctx: Context) -> None:
        pass

    @client.task(name="noop")
    async def same_name(input: EmptyModel, ctx: Context) -> None:
        pass

    with pytest.raises(WorkerConfigError, match="slots"):
        client.worker("w", slots=0, workflows=[noop])
    with pytest.raises(WorkerConfigError, match="at least one task"):
        client.worker("w", workflows=[])
    with pytest.raises(WorkerConfigError, match="two tasks are named 'noop'"):
        client.worker("w", workflows=[noop, same_name])
    with pytest.raises(WorkerConfigError, match="control characters"):
        client.worker("w\n", workflows=[noop])
