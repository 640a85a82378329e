"""The worker: serves tasks over the gateway's worker protocol (``/api/v1/workers/connect``)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import signal
import threading
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chute.config import ClientConfig, websocket_url
from chute.context import AttemptState, Context, Frame
from chute.errors import ChuteError, NonRetryableError, WorkerConfigError
from chute.task import Task

logger = logging.getLogger("chute.worker")

CONNECT_PATH = "/api/v1/workers/connect"
DEFAULT_SLOTS = 100
DEFAULT_DRAIN_TIMEOUT = 30.0
"""Seconds ``stop`` waits for running attempts before giving them up."""
DEFAULT_REGISTER_TIMEOUT = 10.0
"""Seconds the worker waits for ``registered`` after sending ``register``."""
RECONNECT_MIN_DELAY = 0.1
RECONNECT_MAX_DELAY = 5.0
# An assignment carries its run's input (the gateway takes bodies up to 1 MiB) plus its envelope.
_MAX_FRAME_BYTES = 16 * 1024 * 1024
_MAX_ERROR_TEXT = 64 * 1024

State = Literal["idle", "running", "stopping", "stopped"]


class RegistrationError(ChuteError):
    """The gateway did not accept the worker's ``register`` (it answered ``error``, or nothing in time)."""


@dataclass
class _Outgoing:
    frame: Frame | str  # a str is the message already encoded as JSON
    attempt: AttemptState | None
    written: asyncio.Future[None] | None


class _Connection:
    """One socket to one gateway, and the single queue that orders everything sent on it.

    Every message goes through the queue and one writer task, so an attempt's chunks
    reach the gateway in the order they were put, and before its ``completed``/``failed``.
    Messages of an attempt cancelled while they waited are dropped: after a ``cancel``
    nothing more is sent for that attempt.
    """

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.max_chunk_bytes = 1  # set from `registered`; no chunk is put before that
        self.closed = False
        self._queue: asyncio.Queue[_Outgoing] = asyncio.Queue()

    def send_nowait(self, frame: Frame | str, attempt: AttemptState | None = None) -> None:
        """Queue ``frame`` (a message, or a message already encoded as JSON)."""
        if not self.closed:
            self._queue.put_nowait(_Outgoing(frame, attempt, None))

    async def send(self, frame: Frame, attempt: AttemptState | None = None) -> None:
        """Queue ``frame`` and wait until it is written; cancelled if the connection ends first."""
        if self.closed:
            raise asyncio.CancelledError("the connection to the gateway is closed")
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Outgoing(frame, attempt, written))
        await written

    async def flush(self) -> None:
        """Wait until everything queued so far is written."""
        await self.send({"type": "_flush"})

    async def write_forever(self) -> None:
        """Write queued messages in order until the socket fails (then raise its error)."""
        try:
            while True:
                item = await self._queue.get()
                frame = item.frame
                flush = not isinstance(frame, str) and frame["type"] == "_flush"
                if not flush and not (item.attempt is not None and item.attempt.cancelled):
                    text = frame if isinstance(frame, str) else json.dumps(frame, ensure_ascii=False, allow_nan=False)
                    try:
                        await self.socket.send(text)
                    except BaseException:
                        if item.written is not None:
                            item.written.cancel()
                        raise
                if item.written is not None and not item.written.done():
                    item.written.set_result(None)
        finally:
            self.close()

    def close(self) -> None:
        """Refuse further messages and release whoever waits on a queued one."""
        self.closed = True
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item.written is not None:
                item.written.cancel()


def _completed(run_id: str, attempt: int, output_json: str) -> str:
    """The ``completed`` message, around an output already encoded (by ``Task.encode_output``).

    The output is encoded once: checking that it is JSON and sending it are the same encoding.
    """
    return f'{{"type":"completed","runId":{json.dumps(run_id)},"attempt":{json.dumps(attempt)},"output":{output_json}}}'


def _task_error(error: BaseException) -> dict[str, Any]:
    """A task's exception as the protocol's ``TaskError``."""
    stack = "".join(traceback.format_exception(error))
    non_retryable = isinstance(error, NonRetryableError) or getattr(error, "non_retryable", False) is True
    return {
        "name": type(error).__name__[:200],
        "message": str(error)[:_MAX_ERROR_TEXT],
        "stack": stack[-_MAX_ERROR_TEXT:],
        "nonRetryable": non_retryable,
    }


class Worker:
    """Serves tasks: connects to a gateway, runs the attempts it is assigned, reports them.

    Made by ``hatchet.worker(name, slots=..., workflows=[...])``. :meth:`start` blocks until
    the worker stops (SIGINT/SIGTERM or :meth:`stop`); :meth:`async_start` is the same
    in a running event loop.

    - A lost connection cancels the running attempts (the platform gives their runs to
      other workers), then the worker reconnects with a capped exponential back-off,
      rotating through the configured gateways, and registers again.
    - A ``cancel`` from the gateway cancels the attempt's coroutine; nothing more is sent for it.
    - Stopping sends ``drain``, waits for running attempts up to ``drain_timeout`` seconds,
      and closes the socket with 1000. A second signal gives the running attempts up at once.
    """

    def __init__(
        self,
        name: str,
        *,
        config: ClientConfig,
        workflows: Sequence[Task[Any, Any]],
        slots: int = DEFAULT_SLOTS,
        handle_signals: bool = True,
        drain_timeout: float = DEFAULT_DRAIN_TIMEOUT,
        register_timeout: float = DEFAULT_REGISTER_TIMEOUT,
    ) -> None:
        if not name or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name) or len(name) > 200:
            raise WorkerConfigError(f"worker name must be 1-200 characters without control characters, got {name!r}")
        if isinstance(slots, bool) or not isinstance(slots, int) or not 1 <= slots <= 10_000:
            raise WorkerConfigError(f"slots must be a whole number from 1 to 10000, got {slots!r}")
        if not workflows:
            raise WorkerConfigError("a worker needs at least one task in `workflows`")
        self.name = name
        self.slots = slots
        self.tasks: dict[str, Task[Any, Any]] = {}
        for task in workflows:
            if task.name in self.tasks and self.tasks[task.name] is not task:
                raise WorkerConfigError(f"two tasks are named {task.name!r}")
            self.tasks[task.name] = task
        self._config = config
        self._handle_signals = handle_signals
        self._drain_timeout = drain_timeout
        self._register_timeout = register_timeout
        self._state: State = "idle"
        self._attempts: dict[tuple[str, int], AttemptState] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._give_up: asyncio.Event | None = None
        self._stopped: asyncio.Event | None = None
        self._stop_before_start = False
        self._violated = False  # the last connection was closed for a protocol violation (1008)
        self.worker_id: str | None = None
        """The id the gateway gave this worker on its current connection (``None`` when not registered)."""

    @property
    def state(self) -> State:
        """``idle`` (not started), ``running``, ``stopping`` (draining) or ``stopped``."""
        return self._state

    @property
    def active_attempts(self) -> int:
        """Attempts running now."""
        return len(self._attempts)

    def start(self) -> None:
        """Run the worker in a new event loop; block until it has stopped."""
        if not logging.getLogger().hasHandlers() and not logger.hasHandlers():
            # A script's worker says what it does even when the script configured no logging.
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        asyncio.run(self.async_start())

    async def async_start(self) -> None:
        """Run the worker in the running event loop until it has stopped."""
        if self._state != "idle":
            raise RuntimeError(f"worker {self.name!r} was already started")
        self._state = "running"
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        self._give_up = asyncio.Event()
        self._stopped = asyncio.Event()
        if self._stop_before_start:
            self._stop_requested.set()
        signals = self._install_signal_handlers() if self._handle_signals else []
        try:
            await self._serve_until_stopped()
        finally:
            for sig in signals:
                self._loop.remove_signal_handler(sig)
            for state in list(self._attempts.values()):
                state.cancel("worker stopped")
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
            self._state = "stopped"
            self.worker_id = None
            self._stopped.set()
            logger.info("worker %s stopped", self.name)

    aio_start = async_start

    def stop(self) -> None:
        """Ask the worker to drain and stop; callable from any thread, returns at once. Idempotent."""
        if self._loop is None:
            self._stop_before_start = True
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the worker has stopped already
            self._loop.call_soon_threadsafe(self._request_stop)

    async def aio_stop(self) -> None:
        """Drain and stop the worker (from its own event loop); return once it has stopped. Idempotent."""
        self._request_stop()
        if self._stopped is not None:
            await self._stopped.wait()

    def _request_stop(self) -> None:
        if self._stop_requested is None:
            self._stop_before_start = True
        elif not self._stop_requested.is_set():
            self._state = "stopping"
            logger.info("worker %s stopping: draining %d running attempt(s)", self.name, len(self._attempts))
            self._stop_requested.set()

    def _on_signal(self, sig: signal.Signals) -> None:
        assert self._stop_requested is not None and self._give_up is not None
        if self._stop_requested.is_set():
            logger.warning("%s again: giving up %d running attempt(s) now", sig.name, len(self._attempts))
            self._give_up.set()
        else:
            logger.info("%s received", sig.name)
            self._request_stop()

    def _install_signal_handlers(self) -> list[signal.Signals]:
        if threading.current_thread() is not threading.main_thread():
            return []  # only the main thread may handle signals; the host program stops the worker itself
        assert self._loop is not None
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # not supported on this platform
            installed.append(sig)
        return installed

    # --- connections ---------------------------------------------------------------

    async def _serve_until_stopped(self) -> None:
        """Connect, serve, and reconnect with back-off until a stop is requested."""
        assert self._stop_requested is not None
        urls = self._config.gateway_urls
        delay = RECONNECT_MIN_DELAY
        turn = 0
        while not self._stop_requested.is_set():
            url = urls[turn % len(urls)]
            turn += 1
            registered = False
            self._violated = False
            try:
                registered = await self._session(url)
            except InvalidStatus as error:
                logger.error(
                    "gateway %s refused the worker connection with HTTP %s (is CHUTE_TOKEN right?)",
                    url,
                    error.response.status_code,
                )
            except RegistrationError as error:
                logger.error("gateway %s did not register the worker: %s", url, error)
            except (OSError, TimeoutError, websockets.WebSocketException) as error:
                logger.warning("cannot reach gateway %s: %r", url, error)
            except Exception:
                # A long-running worker outlives one bad connection: say what broke, then reconnect.
                logger.exception("unexpected error on the connection to gateway %s", url)
            if self._stop_requested.is_set():
                break
            if registered and not self._violated:
                # A violation would recur on every connection: its back-off keeps growing.
                delay = RECONNECT_MIN_DELAY
            logger.info("reconnecting in %.1fs", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), delay)
            delay = min(delay * 2, RECONNECT_MAX_DELAY)

    async def _session(self, url: str) -> bool:
        """Serve on one connection until it ends or the worker has drained; return whether it registered."""
        assert self._stop_requested is not None
        async with connect(
            websocket_url(url, CONNECT_PATH),
            additional_headers=self._config.auth_headers(),
            max_size=_MAX_FRAME_BYTES,
            open_timeout=10,
        ) as socket:
            connection = _Connection(socket)
            writer = asyncio.create_task(connection.write_forever(), name="chute-writer")
            heartbeat: asyncio.Task[None] | None = None
            reader: asyncio.Task[None] | None = None
            last_error: dict[str, Any] = {}
            try:
                connection.send_nowait(
                    {"type": "register", "name": self.name, "tasks": list(self.tasks), "slots": self.slots}
                )
                registered = await self._wait_registered(socket, writer)
                if registered is None:
                    return False  # stop requested while registering
                self.worker_id = registered["workerId"]
                connection.max_chunk_bytes = int(registered["maxChunkBytes"])
                logger.info(
                    "worker %s registered at %s as %s (tasks: %s; slots: %d)",
                    self.name,
                    url,
                    self.worker_id,
                    ", ".join(self.tasks),
                    self.slots,
                )
                interval = int(registered["heartbeatIntervalMs"]) / 1000
                heartbeat = asyncio.create_task(self._heartbeat(connection, interval), name="chute-heartbeat")
                reader = asyncio.create_task(self._read(connection, last_error), name="chute-reader")
                stop = asyncio.create_task(self._stop_requested.wait())
                try:
                    await asyncio.wait({reader, writer, stop}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stop.cancel()
                if self._stop_requested.is_set() and not reader.done() and not writer.done():
                    await self._drain(connection, reader, writer)
                    await socket.close(1000, "worker stopped")
                else:
                    self._report_lost(connection, last_error)
                return True
            finally:
                connection.close()
                for task in (heartbeat, reader, writer):
                    if task is not None:
                        task.cancel()
                for task in (heartbeat, reader, writer):
                    if task is not None:
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await task
                self._cancel_attempts_of(connection, "connection to the gateway lost")
                self.worker_id = None

    async def _wait_registered(self, socket: ClientConnection, writer: asyncio.Task[None]) -> dict[str, Any] | None:
        """The gateway's ``registered`` answer, or ``None`` if the worker is asked to stop meanwhile."""
        assert self._stop_requested is not None
        answer = asyncio.create_task(socket.recv())
        stop = asyncio.create_task(self._stop_requested.wait())
        try:
            done, _ = await asyncio.wait(
                {answer, stop, writer}, timeout=self._register_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.cancel()
            if not answer.done():
                answer.cancel()
        if answer in done:
            message = json.loads(answer.result())
            if message.get("type") == "registered":
                return dict(message)
            if message.get("type") == "error":
                raise RegistrationError(f"{message.get('code')}: {message.get('message')}")
            raise RegistrationError(f"expected `registered`, got {message.get('type')!r}")
        if writer in done:
            writer.result()  # raises the socket's error
        if stop in done:
            return None
        raise RegistrationError(f"no answer to `register` within {self._register_timeout:g}s")

    async def _heartbeat(self, connection: _Connection, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            connection.send_nowait({"type": "heartbeat"})

    async def _read(self, connection: _Connection, last_error: dict[str, Any]) -> None:
        """Handle the gateway's messages until the socket closes."""
        with contextlib.suppress(ConnectionClosed):
            async for raw in connection.socket:
                try:
                    self._on_message(connection, json.loads(raw), last_error)
                except (ValueError, TypeError, KeyError, AttributeError):
                    # The gateway validates its own messages; one that is malformed is skipped, not fatal.
                    logger.error("gateway sent a message that is not one of the protocol's: %.200r", raw)

    def _on_message(self, connection: _Connection, message: dict[str, Any], last_error: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "assigned":
            self._on_assigned(connection, message)
        elif kind == "cancel":
            state = self._attempts.get((message["runId"], message["attempt"]))
            if state is not None and state.sink is connection:
                reason = str(message.get("reason", "cancelled"))
                logger.info("attempt %d of run %s cancelled: %s", state.attempt, state.run_id, reason)
                state.cancel(reason)
        elif kind == "error":
            last_error.clear()
            last_error.update(message)
            logger.error("gateway error %s: %s", message.get("code"), message.get("message"))
        else:
            logger.warning("ignoring unexpected %r message from the gateway", kind)

    def _report_lost(self, connection: _Connection, last_error: dict[str, Any]) -> None:
        code, reason = connection.socket.close_code, connection.socket.close_reason
        close = f"{code} {reason}" if reason else str(code)
        running = sum(1 for s in self._attempts.values() if s.sink is connection)
        if code == 1008:
            self._violated = True
            # The gateway found a message of ours malformed or out of order: a bug in this SDK.
            logger.error(
                "gateway closed the connection for a protocol violation (%s): %s; "
                "this is a bug in the chute SDK, please report it",
                close,
                last_error.get("message", "no error message"),
            )
        elif code == 1013:
            logger.warning("gateway cannot reach its log (%s); %d attempt(s) given up", close, running)
        else:
            logger.warning("connection to the gateway lost (%s); %d attempt(s) given up", close, running)

    async def _drain(self, connection: _Connection, reader: asyncio.Task[None], writer: asyncio.Task[None]) -> None:
        """Send ``drain``, wait for running attempts (up to the deadline), then flush what they sent."""
        assert self._give_up is not None and self._loop is not None
        connection.send_nowait({"type": "drain"})
        deadline = self._loop.time() + self._drain_timeout
        give_up = asyncio.create_task(self._give_up.wait())
        try:
            while True:
                # Recomputed each turn: an assignment sent before the gateway saw `drain` still runs.
                running = {s.handle for s in self._attempts.values() if s.sink is connection and s.handle is not None}
                remaining = deadline - self._loop.time()
                # The reader or writer ending means the socket dropped: the attempts are lost anyway.
                if not running or remaining <= 0 or reader.done() or writer.done() or give_up.done():
                    break
                await asyncio.wait(
                    {*running, reader, writer, give_up}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            give_up.cancel()
        left = self._cancel_attempts_of(connection, "worker stopped before the attempt ended")
        if left:
            logger.warning("drain ended with %d attempt(s) still running; given up", left)
        if not writer.done():
            # Every `completed`/`failed` queued by the attempts goes out before the close.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(connection.flush(), 5)

    # --- attempts ------------------------------------------------------------------

    def _on_assigned(self, connection: _Connection, message: dict[str, Any]) -> None:
        assert self._loop is not None
        key = (message["runId"], message["attempt"])
        if key in self._attempts:
            logger.warning("attempt %d of run %s assigned twice; ignoring the second", key[1], key[0])
            return
        state = AttemptState(
            run_id=key[0],
            attempt=key[1],
            task=message["task"],
            deadline_at_ms=int(message.get("deadlineAt", 0)),
            sink=connection,
            loop=self._loop,
        )
        self._attempts[key] = state
        state.handle = asyncio.create_task(self._execute(state, message.get("input")), name=f"chute-{key[0]}-{key[1]}")

    async def _execute(self, state: AttemptState, raw_input: Any) -> None:
        """Run one attempt: ``started``, the task (its chunks), then ``completed`` or ``failed``."""
        connection = state.sink
        ref = {"runId": state.run_id, "attempt": state.attempt}
        try:
            connection.send_nowait({"type": "started", **ref}, state)
            try:
                output = await self._call(state, raw_input)
            except asyncio.CancelledError as error:
                if state.cancelled:
                    return  # cancelled by the gateway, a lost connection or the drain deadline: send nothing
                connection.send_nowait({"type": "failed", **ref, "error": _task_error(error)}, state)
            except Exception as error:
                if not state.cancelled:
                    logger.info("attempt %d of run %s failed: %r", state.attempt, state.run_id, error)
                    connection.send_nowait({"type": "failed", **ref, "error": _task_error(error)}, state)
            else:
                connection.send_nowait(_completed(state.run_id, state.attempt, output), state)
        finally:
            if self._attempts.get((state.run_id, state.attempt)) is state:
                del self._attempts[(state.run_id, state.attempt)]

    async def _call(self, state: AttemptState, raw_input: Any) -> str:
        """Run the task; return its output as JSON text."""
        task = self.tasks.get(state.task)
        if task is None:
            raise ChuteError(f"this worker does not serve task {state.task!r}")
        ctx = Context(state, self.worker_id or "")
        value = task.parse_input(raw_input)
        if task.is_async:
            result = await task.fn(value, ctx)
        else:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix=f"chute-{self.name}")
            call = contextvars.copy_context().run
            assert self._loop is not None
            result = await self._loop.run_in_executor(self._executor, call, task.fn, value, ctx)
        return task.encode_output(result)

    def _cancel_attempts_of(self, connection: _Connection, reason: str) -> int:
        cancelled = 0
        for state in list(self._attempts.values()):
            if state.sink is connection and not state.cancelled:
                state.cancel(reason)
                cancelled += 1
        return cancelled
