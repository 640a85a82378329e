"""The worker: serves tasks over the gateway's worker protocol (``/api/v1/workers/connect``).

This module holds :class:`Worker` itself: its options, its start and stop, and the reconnect loop.
The rest of it lives in private modules: ``_protocol`` (the protocol on one connection),
``_connection`` (the ordered queue of what is sent), ``_running`` (the attempts running) and
``_attempt`` (running one attempt).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Sequence
from typing import Any, Literal

import websockets
from websockets.exceptions import InvalidStatus

from chute._protocol import ProtocolSession
from chute._running import RunningAttempts
from chute.config import ClientConfig
from chute.errors import RegistrationError as RegistrationError  # re-exported: it was defined here once
from chute.errors import WorkerConfigError
from chute.task import Task

logger = logging.getLogger("chute.worker")

DEFAULT_SLOTS = 100
DEFAULT_DRAIN_TIMEOUT = 30.0
"""Seconds ``stop`` waits for running attempts before giving them up."""
DEFAULT_REGISTER_TIMEOUT = 10.0
"""Seconds the worker waits for ``registered`` after sending ``register``."""
RECONNECT_MIN_DELAY = 0.1
RECONNECT_MAX_DELAY = 5.0

State = Literal["idle", "running", "stopping", "stopped"]


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
        self._running = RunningAttempts(name, slots, self.tasks)
        self._session: ProtocolSession | None = None  # the current connection's, which gives `worker_id`
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._give_up: asyncio.Event | None = None
        self._stopped: asyncio.Event | None = None
        self._stop_before_start = False

    @property
    def state(self) -> State:
        """``idle`` (not started), ``running``, ``stopping`` (draining) or ``stopped``."""
        return self._state

    @property
    def active_attempts(self) -> int:
        """Attempts running now."""
        return len(self._running)

    @property
    def worker_id(self) -> str | None:
        """The id the gateway gave this worker on its current connection (``None`` when not registered)."""
        return self._session.worker_id if self._session is not None else None

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
            self._running.cancel_all("worker stopped")
            self._running.shutdown()
            self._state = "stopped"
            self._session = None
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
            logger.info("worker %s stopping: draining %d running attempt(s)", self.name, len(self._running))
            self._stop_requested.set()

    def _on_signal(self, sig: signal.Signals) -> None:
        assert self._stop_requested is not None and self._give_up is not None
        if self._stop_requested.is_set():
            logger.warning("%s again: giving up %d running attempt(s) now", sig.name, len(self._running))
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
        assert self._stop_requested is not None and self._give_up is not None and self._loop is not None
        urls = self._config.gateway_urls
        delay = RECONNECT_MIN_DELAY
        turn = 0
        while not self._stop_requested.is_set():
            url = urls[turn % len(urls)]
            turn += 1
            registered = False
            session = self._session = ProtocolSession(
                url,
                config=self._config,
                name=self.name,
                tasks=list(self.tasks),
                slots=self.slots,
                running=self._running,
                loop=self._loop,
                stop_requested=self._stop_requested,
                give_up=self._give_up,
                register_timeout=self._register_timeout,
                drain_timeout=self._drain_timeout,
            )
            try:
                registered = await session.serve()
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
            if registered and not session.violated:
                # A violation would recur on every connection: its back-off keeps growing.
                delay = RECONNECT_MIN_DELAY
            logger.info("reconnecting in %.1fs", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), delay)
            delay = min(delay * 2, RECONNECT_MAX_DELAY)
