"""Subscribing to a run's stream over the gateway's Server-Sent Events transport."""

from __future__ import annotations

import asyncio
import base64
import codecs
import json
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from chute.errors import StreamDisconnectedError
from chute.http import GatewayHttp, api_error

OnAttempt = Callable[[int], None]
"""Called with the attempt number when the chunks that follow belong to a retry."""

# No read timeout: a stream may be silent for as long as its task thinks.
_STREAM_TIMEOUT = httpx.Timeout(10.0, read=None)


@dataclass
class _Event:
    event: str
    data: str


async def _sse_events(lines: AsyncIterator[str]) -> AsyncIterator[_Event]:
    """Parse an SSE body into events (the ``id:`` field is not needed: chunks carry their position)."""
    event = "message"
    data: list[str] = []
    async for line in lines:
        if line == "":
            if data:
                yield _Event(event, "\n".join(data))
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)


def _default_on_attempt(run_id: str) -> OnAttempt:
    def warn(attempt: int) -> None:
        print(f"chute: run {run_id} was retried; the stream continues with attempt {attempt}", file=sys.stderr)

    return warn


class _DroppedError(Exception):
    """The connection ended before the stream's ``end``: resume it."""


async def subscribe_to_stream(
    http: GatewayHttp,
    run_id: str,
    *,
    after: str | None = None,
    from_start: bool = False,
    on_attempt: OnAttempt | None = None,
    max_reconnects: int = 5,
) -> AsyncIterator[str]:
    """Yield the text of each chunk of a run's stream until the stream ends.

    A connection that drops is resumed after the last chunk received (``?after=A:N``), so
    nothing is lost or repeated; after ``max_reconnects`` failed tries in a row it raises
    :class:`~chute.errors.StreamDisconnectedError`. Bytes chunks (base64 on the wire) are
    decoded as UTF-8, keeping a character split across chunks whole.
    """
    notify = on_attempt if on_attempt is not None else _default_on_attempt(run_id)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    resume_after = after
    failures = 0
    last_problem = "no connection yet"
    path = f"/api/v1/runs/{quote(run_id, safe='')}/stream"
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", **http.config.auth_headers()}

    while True:
        params: dict[str, str] = {}
        if resume_after is not None:
            params["after"] = resume_after
        elif from_start:
            params["from"] = "start"
        try:
            async with (
                httpx.AsyncClient(timeout=_STREAM_TIMEOUT) as client,
                client.stream("GET", http.base_url + path, params=params, headers=headers) as response,
            ):
                if response.status_code != 200:
                    error = api_error(response.status_code, await response.aread())
                    if not error.retryable:
                        raise error
                    raise _DroppedError(str(error))
                async for item in _sse_events(response.aiter_lines()):
                    failures = 0
                    message: dict[str, Any] = json.loads(item.data)
                    if item.event == "end":
                        return
                    if item.event == "attempt":
                        # A retry starts its output over: a half character of the old attempt is dropped.
                        decoder.reset()
                        notify(int(message["attempt"]))
                    elif item.event == "chunk":
                        resume_after = f"{message['attempt']}:{message['seq']}"
                        if message.get("encoding") == "base64":
                            text = decoder.decode(base64.b64decode(message["data"]))
                            if text:
                                yield text
                        else:
                            yield message["data"]
                raise _DroppedError("the stream ended without its end message")
        except (httpx.TransportError, _DroppedError) as problem:
            last_problem = repr(problem) if isinstance(problem, httpx.TransportError) else str(problem)
            if isinstance(problem, httpx.ConnectError):
                http.rotate()
        failures += 1
        if failures > max_reconnects:
            raise StreamDisconnectedError(
                f"stream of run {run_id} dropped {failures} times in a row (last: {last_problem})"
            )
        await asyncio.sleep(min(2.0, 0.1 * 2 ** (failures - 1)))
