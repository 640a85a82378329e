"""The worker protocol on one connection to a gateway: register, heartbeat, assignments and cancels, drain."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from chute._connection import Connection
from chute._running import RunningAttempts
from chute.config import ClientConfig, websocket_url
from chute.context import AttemptState
from chute.errors import RegistrationError

logger = logging.getLogger("chute.worker")  # the worker's one logger, whichever of its modules logs

CONNECT_PATH = "/api/v1/workers/connect"
# An assignment carries its run's input (the gateway takes bodies up to 1 MiB) plus its envelope.
_MAX_FRAME_BYTES = 16 * 1024 * 1024


class ProtocolSession:
    """One connection of the worker to one gateway, from ``register`` until it ends or the worker has drained.

    The attempts assigned on the connection end with it: those still running then are
    cancelled, and the platform gives their runs to other workers.
    """

    def __init__(
        self,
        url: str,
        *,
        config: ClientConfig,
        name: str,
        tasks: list[str],
        slots: int,
        running: RunningAttempts,
        loop: asyncio.AbstractEventLoop,
        stop_requested: asyncio.Event,
        give_up: asyncio.Event,
        register_timeout: float,
        drain_timeout: float,
    ) -> None:
        self._url = url
        self._config = config
        self._name = name
        self._tasks = tasks
        self._slots = slots
        self._running = running
        self._loop = loop
        self._stop_requested = stop_requested
        self._give_up = give_up
        self._register_timeout = register_timeout
        self._drain_timeout = drain_timeout
        self.worker_id: str | None = None
        """The id the gateway gave the worker on this connection (``None`` when not registered)."""
        self.violated = False
        """Whether the gateway closed this connection for a protocol violation (1008)."""

    async def serve(self) -> bool:
        """Serve on one connection until it ends or the worker has drained; return whether it registered."""
        async with connect(
            websocket_url(self._url, CONNECT_PATH),
            additional_headers=self._config.auth_headers(),
            max_size=_MAX_FRAME_BYTES,
            open_timeout=10,
        ) as socket:
            connection = Connection(socket)
            writer = asyncio.create_task(connection.write_forever(), name="chute-writer")
            heartbeat: asyncio.Task[None] | None = None
            reader: asyncio.Task[None] | None = None
            last_error: dict[str, Any] = {}
            try:
                connection.send_nowait(
                    {"type": "register", "name": self._name, "tasks": self._tasks, "slots": self._slots}
                )
                registered = await self._wait_registered(socket, writer)
                if registered is None:
                    return False  # stop requested while registering
                self.worker_id = registered["workerId"]
                connection.max_chunk_bytes = int(registered["maxChunkBytes"])
                logger.info(
                    "worker %s registered at %s as %s (tasks: %s; slots: %d)",
                    self._name,
                    self._url,
                    self.worker_id,
                    ", ".join(self._tasks),
                    self._slots,
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
                self._running.cancel_on(connection, "connection to the gateway lost")
                self.worker_id = None

    async def _wait_registered(self, socket: ClientConnection, writer: asyncio.Task[None]) -> dict[str, Any] | None:
        """The gateway's ``registered`` answer, or ``None`` if the worker is asked to stop meanwhile."""
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

    async def _heartbeat(self, connection: Connection, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            connection.send_nowait({"type": "heartbeat"})

    async def _read(self, connection: Connection, last_error: dict[str, Any]) -> None:
        """Handle the gateway's messages until the socket closes."""
        with contextlib.suppress(ConnectionClosed):
            async for raw in connection.socket:
                try:
                    self._on_message(connection, json.loads(raw), last_error)
                except (ValueError, TypeError, KeyError, AttributeError):
                    # The gateway validates its own messages; one that is malformed is skipped, not fatal.
                    logger.error("gateway sent a message that is not one of the protocol's: %.200r", raw)

    def _on_message(self, connection: Connection, message: dict[str, Any], last_error: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "assigned":
            self._on_assigned(connection, message)
        elif kind == "cancel":
            state = self._running.get((message["runId"], message["attempt"]))
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

    def _on_assigned(self, connection: Connection, message: dict[str, Any]) -> None:
        key = (message["runId"], message["attempt"])
        if key in self._running:
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
        self._running.start(state, message.get("input"), self.worker_id or "")

    def _report_lost(self, connection: Connection, last_error: dict[str, Any]) -> None:
        code, reason = connection.socket.close_code, connection.socket.close_reason
        close = f"{code} {reason}" if reason else str(code)
        running = len(self._running.on(connection))
        if code == 1008:
            self.violated = True
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

    async def _drain(self, connection: Connection, reader: asyncio.Task[None], writer: asyncio.Task[None]) -> None:
        """Send ``drain``, wait for running attempts (up to the deadline), then flush what they sent."""
        connection.send_nowait({"type": "drain"})
        deadline = self._loop.time() + self._drain_timeout
        give_up = asyncio.create_task(self._give_up.wait())
        try:
            while True:
                # Recomputed each turn: an assignment sent before the gateway saw `drain` still runs.
                running = {s.handle for s in self._running.on(connection) if s.handle is not None}
                remaining = deadline - self._loop.time()
                # The reader or writer ending means the socket dropped: the attempts are lost anyway.
                if not running or remaining <= 0 or reader.done() or writer.done() or give_up.done():
                    break
                await asyncio.wait(
                    {*running, reader, writer, give_up}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            give_up.cancel()
        left = self._running.cancel_on(connection, "worker stopped before the attempt ended")
        if left:
            logger.warning("drain ended with %d attempt(s) still running; given up", left)
        if not writer.done():
            # Every `completed`/`failed` queued by the attempts goes out before the close.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(connection.flush(), 5)
