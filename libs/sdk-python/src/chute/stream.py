"""Subscribing to a run's stream over the gateway's Server-Sent Events transport."""

from __future__ import annotations

import asyncio
import base64
import codecs
import json
import re
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from chute.errors import StreamDisconnectedError
from chute.http import GatewayHttp, api_error, http_timeout

OnAttempt = Callable[[int], None]
"""Called with the attempt number when the chunks that follow belong to a retry."""

# No read timeout: a stream may be silent for as long as its task thinks.
_STREAM_TIMEOUT = http_timeout(None)
# SSE ends a line with CRLF, LF or CR (and nothing else: JSON data may hold a raw U+2028).
_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass
class _Event:
    event: str
    data: str


async def _sse_lines(body: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Split an SSE body, read in pieces of any size, into its lines (UTF-8, without their ends)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    line: list[str] = []  # the current line's text so far: only new text is searched for line ends
    after_cr = False  # a line just ended with CR: an LF first in the next piece is the rest of a CRLF
    async for piece in body:
        text = decoder.decode(piece)
        if not text:
            continue
        ends_with_cr = text.endswith("\r")
        if after_cr and text.startswith("\n"):
            text = text[1:]
        after_cr = ends_with_cr
        start = 0
        for end in _LINE_END.finditer(text):
            line.append(text[start : end.start()])
            yield "".join(line)
            line.clear()
            start = end.end()
        line.append(text[start:])
    line.append(decoder.decode(b"", final=True))
    if rest := "".join(line):
        yield rest


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
            session, base = await http.client(), http.base_url
            async with session.get(
                base + path, params=params, headers=headers, timeout=_STREAM_TIMEOUT, proxy=http.proxy_for(base)
            ) as response:
                if response.status != 200:
                    error = api_error(response.status, await response.read())
                    if not error.retryable:
                        raise error
                    raise _DroppedError(str(error))
                async for item in _sse_events(_sse_lines(response.content.iter_any())):
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
        except (aiohttp.ClientError, TimeoutError, _DroppedError) as problem:
            last_problem = str(problem) if isinstance(problem, _DroppedError) else repr(problem)
            if isinstance(problem, aiohttp.ClientConnectorError):
                http.rotate()
        failures += 1
        if failures > max_reconnects:
            raise StreamDisconnectedError(
                f"stream of run {run_id} dropped {failures} times in a row (last: {last_problem})"
            )
        await asyncio.sleep(min(2.0, 0.1 * 2 ** (failures - 1)))
