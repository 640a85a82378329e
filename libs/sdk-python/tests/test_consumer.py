"""The consumer side against a fake gateway: trigger, result, and the SSE stream with resume."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from chute import (
    Chute,
    ChuteApiError,
    Context,
    EmptyModel,
    RunFailedError,
    StreamDisconnectedError,
    WorkerConfigError,
)

from fake_gateway import FakeGateway, StreamSession


class Question(BaseModel):
    prompt: str
    max_tokens: int = 16


class Answer(BaseModel):
    text: str


def chunk(seq: int, data: str, attempt: int = 1) -> dict[str, Any]:
    return {"type": "chunk", "seq": seq, "attempt": attempt, "data": data}


def byte_chunk(seq: int, data: bytes, attempt: int = 1) -> dict[str, Any]:
    return {**chunk(seq, base64.b64encode(data).decode(), attempt), "encoding": "base64"}


END = {"type": "end", "status": "COMPLETED"}


async def test_trigger_sends_input_and_the_task_options(gateway: FakeGateway, client: Chute) -> None:
    @client.task(name="ask", retries=3, execution_timeout=timedelta(seconds=90))
    async def ask(input: Question, ctx: Context) -> Answer:
        return Answer(text="")

    @client.task(execution_timeout="250ms")
    async def bare(input: EmptyModel, ctx: Context) -> None:
        pass

    ref = await ask.aio_run(Question(prompt="why?"), wait_for_result=False)
    uuid.UUID(ref.workflow_run_id)
    await ask.aio_run_no_wait({"prompt": "how?", "max_tokens": 2})
    await bare.aio_run(wait_for_result=False)

    (name, body, headers), (_, second, _), (bare_name, third, _) = gateway.triggers
    assert name == "ask"
    assert body == {"input": {"prompt": "why?", "max_tokens": 16}, "retries": 3, "executionTimeoutMs": 90_000}
    assert second["input"] == {"prompt": "how?", "max_tokens": 2}
    assert headers["Authorization"] == "Bearer secret-token"
    assert (bare_name, third) == ("bare", {"input": {}, "retries": 0, "executionTimeoutMs": 250})


async def test_aio_run_waits_through_202_and_returns_the_typed_output(gateway: FakeGateway, client: Chute) -> None:
    @client.task()
    async def ask(input: Question, ctx: Context) -> Answer:
        return Answer(text="")

    ref = await ask.aio_run({"prompt": "hi"}, wait_for_result=False)
    gateway.results[ref.workflow_run_id] = [
        (202, gateway.run_view(ref.workflow_run_id, "QUEUED")),
        (202, gateway.run_view(ref.workflow_run_id, "RUNNING")),
        (200, gateway.run_view(ref.workflow_run_id, "COMPLETED", output={"text": "hello"})),
    ]
    assert await ref.aio_result() == Answer(text="hello")
    assert gateway.results[ref.workflow_run_id] == []
    gateway.default_output = {"text": "direct"}
    assert await ask.aio_run({"prompt": "again"}) == Answer(text="direct")


async def test_a_run_that_did_not_complete_raises_run_failed(gateway: FakeGateway, client: Chute) -> None:
    run_id = str(uuid.uuid4())
    error = {"name": "RuntimeError", "message": "model overloaded", "nonRetryable": True}
    gateway.results[run_id] = [(200, gateway.run_view(run_id, "FAILED", error=error, attempt=2))]
    with pytest.raises(RunFailedError) as caught:
        await client.runs.aio_get_result(run_id)
    assert caught.value.status == "FAILED"
    assert caught.value.run_id == run_id
    assert caught.value.error is not None and caught.value.error.non_retryable
    assert "RuntimeError: model overloaded" in str(caught.value)


async def test_gateway_errors_are_typed(gateway: FakeGateway, client: Chute) -> None:
    gateway.errors["missing"] = (400, {"code": "BAD_REQUEST", "message": "input: too large"})
    with pytest.raises(ChuteApiError) as caught:
        await client.runs.aio_trigger("missing", {})
    assert (caught.value.status, caught.value.code, caught.value.message) == (400, "BAD_REQUEST", "input: too large")
    assert not caught.value.retryable


async def test_an_unreachable_gateway_is_a_typed_error() -> None:
    client = Chute("http://127.0.0.1:9")
    with pytest.raises(ChuteApiError) as caught:
        await client.runs.aio_trigger("t", {})
    assert caught.value.code == "UNREACHABLE" and caught.value.retryable


async def test_a_refused_gateway_is_skipped_for_the_next_one(gateway: FakeGateway) -> None:
    client = Chute(f"http://127.0.0.1:9,{gateway.url}")
    run_id = await client.runs.aio_trigger("t", {"a": 1})
    uuid.UUID(run_id)
    assert gateway.triggers[0][1] == {"input": {"a": 1}}


async def test_sync_run_and_result(gateway: FakeGateway, client: Chute) -> None:
    @client.task()
    def ask(input: Question, ctx: Context) -> dict[str, bool]:
        return {}

    def blocking_caller() -> None:  # synchronous code, as in a script or a thread (the fake serves in this loop)
        ref = ask.run({"prompt": "x"}, wait_for_result=False)
        assert ref.result() == {"ok": True}
        assert ask.run(Question(prompt="y")) == {"ok": True}
        assert client.runs.get(ref.workflow_run_id).status == "COMPLETED"

    await asyncio.to_thread(blocking_caller)
    assert len(gateway.triggers) == 2


async def test_sync_run_inside_a_loop_says_to_await(client: Chute) -> None:
    @client.task()
    async def ask(input: EmptyModel, ctx: Context) -> None:
        pass

    with pytest.raises(RuntimeError, match=r"await task\.aio_run"):
        ask.run()


def test_task_options_are_checked(client: Chute) -> None:
    async def fn(input: EmptyModel, ctx: Context) -> None:
        pass

    with pytest.raises(WorkerConfigError, match="task name"):
        client.task(name="has space")(fn)
    with pytest.raises(WorkerConfigError, match="retries"):
        client.task(retries=101)(fn)
    with pytest.raises(WorkerConfigError, match="execution_timeout"):
        client.task(execution_timeout="5 minutes")(fn)
    with pytest.raises(WorkerConfigError, match="execution_timeout"):
        client.task(execution_timeout=0)(fn)
    assert client.task(execution_timeout=1.5)(fn).execution_timeout_ms == 1500
    assert client.task(execution_timeout="1h")(fn).execution_timeout_ms == 3_600_000
    assert client.task()(fn).name == "fn"


def test_client_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTE_GATEWAY_URL", "http://a:1/, https://b:2")
    monkeypatch.delenv("CHUTE_TOKEN", raising=False)
    client = Chute()
    assert client.config.gateway_urls == ("http://a:1", "https://b:2")
    assert client.config.token is None
    monkeypatch.delenv("CHUTE_GATEWAY_URL")
    assert Chute(token="t").config.gateway_urls == ("http://127.0.0.1:8080",)


async def collect(client: Chute, run_id: str, **options: Any) -> str:
    return "".join([text async for text in client.runs.subscribe_to_stream(run_id, **options)])


async def test_subscribe_yields_chunks_until_the_end(gateway: FakeGateway, client: Chute) -> None:
    run_id = str(uuid.uuid4())
    gateway.streams[run_id] = [StreamSession([chunk(0, "Happy "), chunk(1, "families"), END])]
    assert await collect(client, run_id) == "Happy families"
    assert gateway.stream_requests == [{"_accept": "text/event-stream"}]


async def test_subscribe_decodes_base64_chunks_keeping_split_characters_whole(
    gateway: FakeGateway, client: Chute
) -> None:
    run_id = str(uuid.uuid4())
    text = "naïve — ok".encode()
    cut = text.index("—".encode()) + 1  # in the middle of a three-byte character
    gateway.streams[run_id] = [
        StreamSession([byte_chunk(0, text[:cut]), byte_chunk(1, text[cut:]), chunk(2, "!"), END])
    ]
    assert await collect(client, run_id) == "naïve — ok!"


async def test_subscribe_announces_a_retry(gateway: FakeGateway, client: Chute) -> None:
    run_id = str(uuid.uuid4())
    gateway.streams[run_id] = [
        StreamSession([chunk(0, "first try "), {"type": "attempt", "attempt": 2}, chunk(0, "second try", 2), END])
    ]
    attempts: list[int] = []
    assert await collect(client, run_id, on_attempt=attempts.append) == "first try second try"
    assert attempts == [2]


async def test_subscribe_announces_a_retry_on_stderr_by_default(
    gateway: FakeGateway, client: Chute, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = str(uuid.uuid4())
    gateway.streams[run_id] = [StreamSession([{"type": "attempt", "attempt": 3}, chunk(0, "x", 3), END])]
    assert await collect(client, run_id) == "x"
    assert capsys.readouterr().err == f"chute: run {run_id} was retried; the stream continues with attempt 3\n"


@pytest.mark.parametrize("abort", [True, False], ids=["connection-aborted", "response-ended-early"])
async def test_subscribe_resumes_after_the_last_chunk_when_the_connection_drops(
    gateway: FakeGateway, client: Chute, abort: bool
) -> None:
    run_id = str(uuid.uuid4())
    gateway.streams[run_id] = [
        StreamSession([chunk(0, "a"), {"type": "attempt", "attempt": 2}, chunk(0, "b", 2), chunk(1, "c", 2)], abort),
        StreamSession([chunk(2, "d", 2)], abort),
        StreamSession([chunk(3, "e", 2), END]),
    ]
    assert await collect(client, run_id, on_attempt=lambda _: None) == "abcde"
    assert [r.get("after") for r in gateway.stream_requests] == [None, "2:1", "2:2"]


async def test_subscribe_passes_from_start_and_after(gateway: FakeGateway, client: Chute) -> None:
    run_id = str(uuid.uuid4())
    gateway.streams[run_id] = [StreamSession([END]), StreamSession([END])]
    await collect(client, run_id, from_start=True)
    await collect(client, run_id, after="3")
    assert [r.get("from") for r in gateway.stream_requests] == ["start", None]
    assert gateway.stream_requests[1]["after"] == "3"


async def test_subscribe_gives_up_after_repeated_drops(gateway: FakeGateway, client: Chute) -> None:
    run_id = str(uuid.uuid4())
    gateway.streams[run_id] = [StreamSession([chunk(i, str(i))], abort=True) for i in range(2)] + [
        StreamSession([], abort=True) for _ in range(3)
    ]
    received: list[str] = []
    with pytest.raises(StreamDisconnectedError, match="dropped 3 times in a row"):
        async for text in client.runs.subscribe_to_stream(run_id, max_reconnects=2):
            received.append(text)
    assert received == ["0", "1"]


async def test_subscribe_to_an_unknown_run_raises_at_once(gateway: FakeGateway, client: Chute) -> None:
    with pytest.raises(ChuteApiError) as caught:
        await collect(client, str(uuid.uuid4()))
    assert (caught.value.status, caught.value.code) == (404, "RUN_NOT_FOUND")
    assert len(gateway.stream_requests) == 1
