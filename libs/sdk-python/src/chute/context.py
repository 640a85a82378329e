"""What a task function gets besides its input: its run's identity and its stream."""

from __future__ import annotations

import asyncio
import base64
from concurrent.futures import CancelledError as FutureCancelledError
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from chute.errors import AttemptCancelledError, ChunkTooLargeError

Frame = dict[str, Any]
"""One worker-protocol message, before it is encoded as JSON."""


class FrameSink(Protocol):
    """Where an attempt's messages go: the worker's connection to its gateway, in call order."""

    max_chunk_bytes: int

    def send_nowait(self, frame: Frame | str, attempt: AttemptState) -> None:
        """Queue ``frame`` (or a message already encoded as JSON) behind every message queued before it."""

    async def send(self, frame: Frame, attempt: AttemptState) -> None:
        """Queue ``frame`` and wait until it is written to the socket."""


@dataclass(eq=False)
class AttemptState:
    """One attempt the worker runs: its identity, where its messages go, whether it was cancelled."""

    run_id: str
    attempt: int
    task: str
    deadline_at_ms: int
    sink: FrameSink
    loop: asyncio.AbstractEventLoop
    cancelled: bool = False
    cancel_reason: str = ""
    handle: asyncio.Task[None] | None = field(default=None, repr=False)

    def cancel(self, reason: str) -> None:
        """Stop the attempt: nothing more is sent for it, and its coroutine is cancelled."""
        if self.cancelled:
            return
        self.cancelled = True
        self.cancel_reason = reason
        if self.handle is not None:
            self.handle.cancel(reason)


class Context:
    """The context of one attempt of a task (names follow Hatchet's ``Context``)."""

    def __init__(self, state: AttemptState, worker_id: str) -> None:
        self._state = state
        self._worker_id = worker_id

    @property
    def workflow_run_id(self) -> str:
        """The id of the run this attempt belongs to."""
        return self._state.run_id

    @property
    def run_id(self) -> str:
        """Same as :attr:`workflow_run_id`."""
        return self._state.run_id

    @property
    def attempt_number(self) -> int:
        """1 for the first attempt, 2 for the first retry, and so on."""
        return self._state.attempt

    @property
    def task_name(self) -> str:
        """The name of the task being run."""
        return self._state.task

    @property
    def worker_id(self) -> str:
        """The id the gateway gave the worker running this attempt."""
        return self._worker_id

    @property
    def deadline(self) -> datetime:
        """When the platform times this attempt out unless it ends first (UTC)."""
        return datetime.fromtimestamp(self._state.deadline_at_ms / 1000, tz=UTC)

    @property
    def cancelled(self) -> bool:
        """Whether the attempt was cancelled; a synchronous task should check it and return."""
        return self._state.cancelled

    def _chunk_frame(self, chunk: str | bytes | bytearray | memoryview) -> Frame:
        if self._state.cancelled:
            raise AttemptCancelledError(
                f"attempt {self._state.attempt} of run {self._state.run_id} was cancelled ({self._state.cancel_reason})"
            )
        if isinstance(chunk, str):
            size, data, encoding = len(chunk.encode("utf-8")), chunk, "utf8"
        elif isinstance(chunk, bytes | bytearray | memoryview):
            raw = bytes(chunk)
            size, data, encoding = len(raw), base64.b64encode(raw).decode("ascii"), "base64"
        else:
            raise TypeError(f"put_stream takes str or bytes, got {type(chunk).__name__}")
        limit = self._state.sink.max_chunk_bytes
        if size > limit:
            raise ChunkTooLargeError(size, limit)
        return {
            "type": "chunk",
            "runId": self._state.run_id,
            "attempt": self._state.attempt,
            "data": data,
            "encoding": encoding,
        }

    async def aio_put_stream(self, chunk: str | bytes) -> None:
        """Publish a chunk to the run's stream: text as is, bytes as bytes.

        Chunks reach the stream in call order, and all of them before the attempt's end.
        Returns once the chunk is written to the gateway's socket (backpressure).
        Raises :class:`~chute.errors.ChunkTooLargeError` for a chunk over the gateway's
        limit (nothing is sent for it) and :class:`~chute.errors.AttemptCancelledError`
        once the attempt was cancelled.
        """
        frame = self._chunk_frame(chunk)
        if _running_loop() is self._state.loop:
            await self._state.sink.send(frame, self._state)
        else:
            # Called from another event loop (a sync task that runs its own loop).
            future = asyncio.run_coroutine_threadsafe(self._state.sink.send(frame, self._state), self._state.loop)
            await asyncio.wrap_future(future)

    def put_stream(self, chunk: str | bytes) -> None:
        """Publish a chunk without awaiting; usable from async and from synchronous task functions.

        In the worker's event loop (an ``async def`` task) the chunk is queued at once, in
        call order. From a thread (a synchronous task) it waits until the chunk is written.
        Raises as :meth:`aio_put_stream` does.
        """
        frame = self._chunk_frame(chunk)
        if _running_loop() is self._state.loop:
            self._state.sink.send_nowait(frame, self._state)
            return
        try:
            future = asyncio.run_coroutine_threadsafe(self._state.sink.send(frame, self._state), self._state.loop)
        except RuntimeError as error:  # the worker's loop is closed: the worker stopped
            raise AttemptCancelledError(f"the worker stopped: {error}") from error
        try:
            future.result()
        except (asyncio.CancelledError, FutureCancelledError) as error:
            raise AttemptCancelledError(
                f"attempt {self._state.attempt} of run {self._state.run_id} was cancelled"
            ) from error


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
