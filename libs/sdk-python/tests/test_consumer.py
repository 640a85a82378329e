"""The consumer side against a fake gateway: trigger, result, and the SSE stream with resume."""

from __future__ import annotations

import asyncio
import base64
import gc
import threading
import uuid
import warnings
from collections.abc import AsyncIterator
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
from chute.stream import _sse_lines

from conftest import StartWorker
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


def exchanges(gateway: FakeGateway) -> list[tuple[str, str, dict[str, str]]]:
    return [(method, path, query) for method, path, query, _ in gateway.requests]


WAIT = {"waitMs": "30000"}
RESULT = {"timeoutMs": "30000"}


async def test_a_waited_run_costs_one_request(gateway: FakeGateway, client: Chute) -> None:
    @client.task(name="ask", retries=2)
    async def ask(input: Question, ctx: Context) -> Answer:
        return Answer(text="")

    gateway.default_output = {"text": "at once"}
    assert await ask.aio_run({"prompt": "hi"}) == Answer(text="at once")
    assert exchanges(gateway) == [("POST", "/api/v1/tasks/ask/runs", WAIT)]
    assert gateway.triggers[0][1] == {
        "input": {"prompt": "hi", "max_tokens": 16},
        "retries": 2,
        "executionTimeoutMs": 300_000,
    }
    assert gateway.triggers[0][2]["Authorization"] == "Bearer secret-token"


async def test_a_waited_run_that_did_not_complete_raises_after_one_request(gateway: FakeGateway, client: Chute) -> None:
    @client.task(name="ask")
    async def ask(input: Question, ctx: Context) -> Answer:
        return Answer(text="")

    gateway.waited_triggers = [(200, "CANCELLED")]
    with pytest.raises(RunFailedError) as caught:
        await ask.aio_run({"prompt": "hi"})
    assert caught.value.status == "CANCELLED"
    assert exchanges(gateway) == [("POST", "/api/v1/tasks/ask/runs", WAIT)]


async def test_a_run_not_ended_within_the_wait_is_waited_for_with_result(gateway: FakeGateway, client: Chute) -> None:
    @client.task(name="ask")
    async def ask(input: Question, ctx: Context) -> Answer:
        return Answer(text="")

    run_id = str(uuid.uuid4())
    gateway.next_run_ids = [run_id]
    gateway.waited_triggers = [(202, "RUNNING")]
    gateway.results[run_id] = [
        (202, gateway.run_view(run_id, "RUNNING")),
        (200, gateway.run_view(run_id, "COMPLETED", output={"text": "late"})),
    ]
    assert await ask.aio_run({"prompt": "hi"}) == Answer(text="late")
    result = f"/api/v1/runs/{run_id}/result"
    assert exchanges(gateway) == [("POST", "/api/v1/tasks/ask/runs", WAIT)] + [("GET", result, RESULT)] * 2


async def test_a_gateway_that_ignores_wait_ms_is_waited_for_with_result(gateway: FakeGateway, client: Chute) -> None:
    @client.task(name="ask")
    async def ask(input: Question, ctx: Context) -> Answer:
        return Answer(text="")

    run_id = str(uuid.uuid4())
    gateway.next_run_ids = [run_id]
    gateway.ignore_wait = True  # 201 {runId}, as before the gateway had waitMs
    gateway.default_output = {"text": "polled"}
    assert await ask.aio_run({"prompt": "hi"}) == Answer(text="polled")
    assert exchanges(gateway) == [
        ("POST", "/api/v1/tasks/ask/runs", WAIT),
        ("GET", f"/api/v1/runs/{run_id}/result", RESULT),
    ]


async def test_a_run_served_by_a_worker_costs_one_request(start_worker: StartWorker) -> None:
    fake = FakeGateway(bridge=True)  # the fake plays the platform: trigger, assignment, result
    await fake.start()
    try:
        client = Chute(fake.url)

        @client.task(name="answer")
        async def answer(input: Question, ctx: Context) -> Answer:
            await asyncio.sleep(0.05)
            return Answer(text=f"{input.prompt}: 42")

        worker, _ = await start_worker(client, [answer])
        await (await fake.next_connection()).next("register")  # the bridge answered it already
        assert await answer.aio_run({"prompt": "life"}) == Answer(text="life: 42")
        assert exchanges(fake) == [("POST", "/api/v1/tasks/answer/runs", WAIT)]
        worker.stop()
    finally:
        await fake.stop()
    assert not fake.violations, "\n".join(fake.violations)


async def test_a_run_without_waiting_does_not_ask_to_wait(gateway: FakeGateway, client: Chute) -> None:
    @client.task(name="ask")
    async def ask(input: Question, ctx: Context) -> Answer:
        return Answer(text="")

    await ask.aio_run({"prompt": "a"}, wait_for_result=False)
    await ask.aio_run_no_wait({"prompt": "b"})
    await client.aio_trigger("ask", {"prompt": "c"})
    assert exchanges(gateway) == [("POST", "/api/v1/tasks/ask/runs", {})] * 3


async def test_requests_reuse_one_connection(gateway: FakeGateway, client: Chute) -> None:
    @client.task(name="ask")
    async def ask(input: Question, ctx: Context) -> Answer:
        return Answer(text="")

    gateway.default_output = {"text": ""}
    for prompt in "abc":
        await ask.aio_run({"prompt": prompt})
    ref = await ask.aio_run_no_wait({"prompt": "d"})
    await ref.aio_result()
    await client.runs.aio_get(ref.workflow_run_id)
    assert len(gateway.requests) == 6
    assert len({port for *_, port in gateway.requests}) == 1


async def test_concurrent_runs_share_the_pool(gateway: FakeGateway, client: Chute) -> None:
    @client.task(name="ask")
    async def ask(input: Question, ctx: Context) -> Answer:
        return Answer(text="")

    gateway.default_output = {"text": "ok"}
    answers = await asyncio.gather(*(ask.aio_run({"prompt": str(i)}) for i in range(150)))
    assert answers == [Answer(text="ok")] * 150
    assert len(gateway.requests) == 150
    connections = len({port for *_, port in gateway.requests})
    for prompt in "xyz":  # idle connections are kept for the next calls
        await ask.aio_run({"prompt": prompt})
    assert len({port for *_, port in gateway.requests}) == connections


async def test_aclose_closes_the_pool_and_the_client_stays_usable(gateway: FakeGateway, client: Chute) -> None:
    @client.task(name="ask")
    async def ask(input: Question, ctx: Context) -> Answer:
        return Answer(text="")

    gateway.default_output = {"text": ""}
    await ask.aio_run({"prompt": "a"})
    await client.aclose()
    await client.aclose()
    async with client:
        await ask.aio_run({"prompt": "b"})
    await ask.aio_run({"prompt": "c"})
    first, second, third = (port for *_, port in gateway.requests)
    assert len({first, second, third}) == 3


async def test_a_pool_closes_with_its_event_loop(gateway: FakeGateway, client: Chute) -> None:
    @client.task(name="ask")
    async def ask(input: Question, ctx: Context) -> Answer:
        return Answer(text="")

    gateway.default_output = {"text": ""}

    def in_a_loop_of_its_own() -> Answer:
        return asyncio.run(ask.aio_run({"prompt": "x"}))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert await asyncio.to_thread(in_a_loop_of_its_own) == Answer(text="")
        assert await asyncio.to_thread(in_a_loop_of_its_own) == Answer(text="")
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert len({port for *_, port in gateway.requests}) == 2  # a loop's connections end with it
    assert len(client._http._sessions._pools) == 0


async def test_a_dropped_client_closes_its_pool(gateway: FakeGateway) -> None:
    client = Chute(gateway.url)
    await client.aio_trigger("t", {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
        await asyncio.sleep(0.05)  # the session is closed by a task of this loop
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


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
    assert [method for method, *_ in exchanges(gateway)] == ["POST", "GET", "POST", "GET"]  # ask.run: one exchange


async def test_sync_calls_from_any_thread_share_one_pool(gateway: FakeGateway, client: Chute) -> None:
    @client.task(name="ask")
    def ask(input: Question, ctx: Context) -> dict[str, bool]:
        return {}

    def blocking_caller() -> None:
        for prompt in "ab":
            assert ask.run({"prompt": prompt}) == {"ok": True}

    await asyncio.to_thread(blocking_caller)
    await asyncio.gather(asyncio.to_thread(blocking_caller), asyncio.to_thread(blocking_caller))
    assert len(gateway.requests) == 6
    assert len({port for *_, port in gateway.requests}) <= 2  # the two concurrent callers may need two connections
    client.close()
    assert not [t for t in threading.enumerate() if t.name == "chute-sync-loop"]
    await asyncio.to_thread(blocking_caller)  # a closed client starts its thread again
    assert len(gateway.requests) == 8


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


async def pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_sse_lines_end_at_crlf_lf_or_cr_wherever_the_body_is_cut() -> None:
    raw = "data: a\r\n\r\nid: 1\rdata: b\n\ndata: \u2028é\r\nlast\r".encode()
    expected = ["data: a", "", "id: 1", "data: b", "", "data: \u2028é", "last"]
    for cut in range(len(raw) + 1):  # through a CRLF and through a two-byte character too
        assert [line async for line in _sse_lines(pieces(raw[:cut], raw[cut:]))] == expected, cut
    assert [line async for line in _sse_lines(pieces(b"no end"))] == ["no end"]


async def test_sse_lines_take_a_line_longer_than_any_buffer() -> None:
    line = "data: " + "x" * (3 * 1024 * 1024)
    raw = (line + "\n\n").encode()
    parts = [raw[i : i + 65536] for i in range(0, len(raw), 65536)]
    assert [got async for got in _sse_lines(pieces(*parts))] == [line, ""]
