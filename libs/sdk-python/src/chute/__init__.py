"""Chute's Python SDK: tasks that stream their output, workers that run them, consumers that read them.

Usage mirrors Hatchet's SDK::

    from chute import Chute, Context, EmptyModel

    hatchet = Chute()

    @hatchet.task()
    async def stream_task(input: EmptyModel, ctx: Context) -> None:
        await ctx.aio_put_stream("hello")
"""

from chute.client import Chute
from chute.context import Context
from chute.duration import Duration
from chute.errors import (
    AttemptCancelledError,
    ChunkTooLargeError,
    ChuteApiError,
    ChuteError,
    NonRetryableError,
    RegistrationError,
    RunFailedError,
    StreamDisconnectedError,
    WorkerConfigError,
)
from chute.models import EmptyModel, RunStatus, RunView, TaskErrorInfo
from chute.runs import Runs
from chute.task import Task, WorkflowRunRef
from chute.worker import Worker

__all__ = [
    "AttemptCancelledError",
    "ChunkTooLargeError",
    "Chute",
    "ChuteApiError",
    "ChuteError",
    "Context",
    "Duration",
    "EmptyModel",
    "NonRetryableError",
    "RegistrationError",
    "RunFailedError",
    "RunStatus",
    "RunView",
    "Runs",
    "StreamDisconnectedError",
    "Task",
    "TaskErrorInfo",
    "Worker",
    "WorkerConfigError",
    "WorkflowRunRef",
]

__version__ = "0.1.0"
