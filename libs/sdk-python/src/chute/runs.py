"""The consumer side: trigger runs, wait for their results, subscribe to their streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import ValidationError

from chute.errors import ChuteApiError, RunFailedError
from chute.http import GatewayHttp, http_timeout
from chute.models import RunView
from chute.stream import OnAttempt, subscribe_to_stream

T = TypeVar("T")

RESULT_POLL_MS = 30_000
"""How long one request waits for the run to end before the gateway answers 202 (``/result``, or a waited trigger)."""

# The gateway holds a waiting request for up to RESULT_POLL_MS: the read timeout must outlast it.
_RESULT_TIMEOUT = http_timeout(RESULT_POLL_MS / 1000 + 15)
_MAX_RESULT_RETRIES = 5
_WAIT_PARAMS = {"waitMs": str(RESULT_POLL_MS)}
_RESULT_PARAMS = {"timeoutMs": str(RESULT_POLL_MS)}


def _trigger_path(task_name: str) -> str:
    return f"/api/v1/tasks/{quote(task_name, safe='')}/runs"


def _trigger_body(input: Any, retries: int | None, execution_timeout_ms: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"input": input}
    if retries is not None:
        body["retries"] = retries
    if execution_timeout_ms is not None:
        body["executionTimeoutMs"] = execution_timeout_ms
    return body


def _run_view(status: int, data: Any) -> RunView:
    """The gateway's run view, or :class:`~chute.errors.ChuteApiError` when the answer is not one."""
    try:
        return RunView.model_validate(data)
    except ValidationError as error:
        raise ChuteApiError(status, "INVALID_RESPONSE", f"gateway answered with no run view: {error}") from None


def output_of(run: RunView) -> Any:
    """The output of an ended run, or :class:`~chute.errors.RunFailedError` if it did not complete."""
    if run.status == "COMPLETED":
        return run.output
    raise RunFailedError(run.run_id, run.status, run.error)


class Runs:
    """Runs, through the gateway's HTTP API: what ``hatchet.runs`` is."""

    def __init__(self, http: GatewayHttp) -> None:
        self._http = http

    def _blocking(self, coro: Coroutine[Any, Any, T], async_name: str) -> T:
        """Run ``coro`` for a blocking method (on the client's loop thread); refused inside a running loop."""
        return self._http.run_sync(coro, async_name)

    async def aio_trigger(
        self,
        task_name: str,
        input: Any = None,
        *,
        retries: int | None = None,
        execution_timeout_ms: int | None = None,
    ) -> str:
        """Trigger a run of the task named ``task_name`` with JSON ``input``; return its run id.

        ``retries`` and ``execution_timeout_ms`` default to the gateway's (0 and 5 minutes).
        A task object's ``aio_run`` fills them in from the task's options.
        """
        _, data = await self._http.request(
            "POST", _trigger_path(task_name), body=_trigger_body(input, retries, execution_timeout_ms)
        )
        if not isinstance(data, dict) or not isinstance(data.get("runId"), str):
            raise ChuteApiError(201, "INVALID_RESPONSE", f"trigger answered without a runId: {data!r}")
        run_id: str = data["runId"]
        return run_id

    async def aio_trigger_and_wait(
        self,
        task_name: str,
        input: Any = None,
        *,
        retries: int | None = None,
        execution_timeout_ms: int | None = None,
    ) -> RunView:
        """Trigger a run and wait until it has ended; return it (whatever its status).

        The trigger itself waits (``?waitMs=``), so a run that ends within
        :data:`RESULT_POLL_MS` costs one HTTP exchange. A run still going then is waited for
        as :meth:`aio_wait_for_end` does. A gateway that ignores ``waitMs`` (201 with the run
        id) is waited for the same way.

        The trigger is not retried: when the connection fails while the gateway holds the
        request, the run may have been triggered, and its id is unknown.
        """
        status, data = await self._http.request(
            "POST",
            _trigger_path(task_name),
            body=_trigger_body(input, retries, execution_timeout_ms),
            params=_WAIT_PARAMS,
            http_timeout=_RESULT_TIMEOUT,
        )
        if status == 201:
            if not isinstance(data, dict) or not isinstance(data.get("runId"), str):
                raise ChuteApiError(201, "INVALID_RESPONSE", f"trigger answered without a runId: {data!r}")
            return await self.aio_wait_for_end(data["runId"])
        run = _run_view(status, data)
        if status == 200 and run.is_final:
            return run
        return await self.aio_wait_for_end(run.run_id)

    def trigger(
        self,
        task_name: str,
        input: Any = None,
        *,
        retries: int | None = None,
        execution_timeout_ms: int | None = None,
    ) -> str:
        """Blocking :meth:`aio_trigger`."""
        coro = self.aio_trigger(task_name, input, retries=retries, execution_timeout_ms=execution_timeout_ms)
        return self._blocking(coro, "runs.aio_trigger")

    async def aio_get(self, run_id: str) -> RunView:
        """The run as the gateway shows it now."""
        status, data = await self._http.request("GET", f"/api/v1/runs/{quote(run_id, safe='')}", accept=(200,))
        return _run_view(status, data)

    def get(self, run_id: str) -> RunView:
        """Blocking :meth:`aio_get`."""
        return self._blocking(self.aio_get(run_id), "runs.aio_get")

    async def aio_cancel(self, run_id: str) -> None:
        """Ask for the run to be cancelled; its running attempt is cancelled on its worker."""
        await self._http.request("POST", f"/api/v1/runs/{quote(run_id, safe='')}/cancel", accept=(200, 202))

    def cancel(self, run_id: str) -> None:
        """Blocking :meth:`aio_cancel`."""
        self._blocking(self.aio_cancel(run_id), "runs.aio_cancel")

    async def aio_wait_for_end(self, run_id: str) -> RunView:
        """Wait until the run has ended (long-polling ``/result``) and return it.

        A gateway that is briefly unreachable or unavailable is asked again, a few times
        in a row at most, with a growing pause.
        """
        path = f"/api/v1/runs/{quote(run_id, safe='')}/result"
        failures = 0
        while True:
            try:
                status, data = await self._http.request(
                    "GET",
                    path,
                    params=_RESULT_PARAMS,
                    accept=(200, 202),
                    http_timeout=_RESULT_TIMEOUT,
                )
            except ChuteApiError as error:
                failures += 1
                if not error.retryable or failures > _MAX_RESULT_RETRIES:
                    raise
                await asyncio.sleep(min(5.0, 0.2 * 2 ** (failures - 1)))
                continue
            failures = 0
            run = _run_view(status, data)
            if status == 200 and run.is_final:
                return run

    async def aio_get_result(self, run_id: str) -> Any:
        """Wait for the run to end; return its output, or raise :class:`~chute.errors.RunFailedError`."""
        return output_of(await self.aio_wait_for_end(run_id))

    def get_result(self, run_id: str) -> Any:
        """Blocking :meth:`aio_get_result`."""
        return self._blocking(self.aio_get_result(run_id), "runs.aio_get_result")

    def subscribe_to_stream(
        self,
        run_id: str,
        *,
        after: str | None = None,
        from_start: bool = False,
        on_attempt: OnAttempt | None = None,
        max_reconnects: int = 5,
    ) -> AsyncIterator[str]:
        """Iterate the text a run streams from now on, until its stream ends.

        Chunks published before this call are not delivered (the platform's semantics),
        unless ``from_start`` replays the stream from its first chunk or ``after`` (a
        position ``N`` or ``A:N``) resumes after a chunk. When a retry begins,
        ``on_attempt(attempt)`` is called (default: one line on stderr), and the chunks
        that follow are the retry's output from its beginning. A dropped connection is
        resumed where it left off. Usable directly as FastAPI's ``StreamingResponse`` body.
        """
        return subscribe_to_stream(
            self._http,
            run_id,
            after=after,
            from_start=from_start,
            on_attempt=on_attempt,
            max_reconnects=max_reconnects,
        )
