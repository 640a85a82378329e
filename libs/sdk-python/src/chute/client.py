"""The client: what ``Chute()`` makes, the entry point to tasks, workers and runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from chute.config import ClientConfig
from chute.duration import Duration
from chute.http import GatewayHttp
from chute.runs import Runs
from chute.task import DEFAULT_EXECUTION_TIMEOUT, DEFAULT_RETRIES, Task, TaskDecorator, WorkflowRunRef
from chute.worker import DEFAULT_DRAIN_TIMEOUT, DEFAULT_SLOTS, Worker


class Chute:
    """The Chute client, used as Hatchet's: ``hatchet = Chute()``.

    Args:
        gateway_url: The gateway, or a comma-separated list of gateways (workers rotate
            through them when they reconnect). Default: ``CHUTE_GATEWAY_URL``, else
            ``http://127.0.0.1:8080``.
        token: Sent as ``Authorization: Bearer <token>``. Default: ``CHUTE_TOKEN``, else none.

    """

    def __init__(self, gateway_url: str | Sequence[str] | None = None, token: str | None = None) -> None:
        self.config = ClientConfig.resolve(gateway_url, token)
        self._http = GatewayHttp(self.config)
        self.runs = Runs(self._http)
        """Runs through the gateway: results, cancellation and streams."""

    async def aclose(self) -> None:
        """Close the connections this client keeps open in the running event loop.

        Optional: they are closed anyway when the loop ends through ``asyncio.run`` (or
        ``asyncio.Runner``, uvicorn, pytest-asyncio). The client stays usable; a later call
        opens new connections.
        """
        await self._http.aclose()

    def close(self) -> None:
        """Close the connections of the blocking methods (``run``, ``result``, ...) and stop their thread.

        Optional: that happens anyway when the client is garbage-collected or the program
        exits. The client stays usable; a later blocking call starts them again.
        """
        self._http.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def task(
        self,
        *,
        name: str | None = None,
        retries: int = DEFAULT_RETRIES,
        execution_timeout: Duration = DEFAULT_EXECUTION_TIMEOUT,
        input_validator: type[Any] | None = None,
    ) -> TaskDecorator:
        """Define a task from an ``async def fn(input: Model, ctx: Context)`` (or a plain ``def``, run in a thread).

        Args:
            name: Workers serve tasks by name. Default: the function's name.
            retries: Retries after a failed attempt (0-100). Default: 0.
            execution_timeout: The budget of one attempt: a ``timedelta``, seconds, or a
                string such as ``"30s"`` or ``"5m"``. Default: ``"5m"``.
            input_validator: The input type. Default: the annotation of the function's
                first parameter, else :class:`~chute.EmptyModel`.

        """
        return TaskDecorator(
            self.runs, name=name, retries=retries, execution_timeout=execution_timeout, input_validator=input_validator
        )

    def worker(
        self,
        name: str,
        *,
        slots: int = DEFAULT_SLOTS,
        workflows: Sequence[Task[Any, Any]],
        handle_signals: bool = True,
        drain_timeout: float = DEFAULT_DRAIN_TIMEOUT,
    ) -> Worker:
        """Create a worker serving ``workflows``; ``worker.start()`` runs it.

        Args:
            name: The worker's name; the gateway makes its id from it.
            slots: How many attempts run at once (the gateway never assigns more). Default: 100.
            workflows: The tasks it serves.
            handle_signals: Drain and stop on SIGINT/SIGTERM. Turn off when the host program
                handles signals and calls :meth:`Worker.stop` itself. Default: on.
            drain_timeout: Seconds a stop waits for running attempts. Default: 30.

        """
        return Worker(
            name,
            config=self.config,
            workflows=workflows,
            slots=slots,
            handle_signals=handle_signals,
            drain_timeout=drain_timeout,
        )

    async def aio_trigger(self, task_name: str, input: Any = None) -> WorkflowRunRef[Any]:
        """Trigger a run of a task by name (with the gateway's default options); return its reference."""
        run_id = await self.runs.aio_trigger(task_name, input)
        return WorkflowRunRef(run_id, self.runs, lambda raw: raw)
