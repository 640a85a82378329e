"""Running one attempt: ``started``, the task (its chunks), then ``completed`` or ``failed``."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chute.context import AttemptState, Context
from chute.errors import ChuteError, NonRetryableError
from chute.task import Task

logger = logging.getLogger("chute.worker")  # the worker's one logger, whichever of its modules logs

_MAX_ERROR_TEXT = 64 * 1024


async def run_attempt(
    state: AttemptState,
    tasks: Mapping[str, Task[Any, Any]],
    raw_input: Any,
    worker_id: str,
    executor: Callable[[], ThreadPoolExecutor],
) -> None:
    """Run one attempt: ``started``, the task (its chunks), then ``completed`` or ``failed``.

    ``executor`` gives the thread pool a synchronous task runs in.
    """
    connection = state.sink
    ref = {"runId": state.run_id, "attempt": state.attempt}
    connection.send_nowait({"type": "started", **ref}, state)
    try:
        output = await _call(state, tasks, raw_input, worker_id, executor)
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


async def _call(
    state: AttemptState,
    tasks: Mapping[str, Task[Any, Any]],
    raw_input: Any,
    worker_id: str,
    executor: Callable[[], ThreadPoolExecutor],
) -> str:
    """Run the task; return its output as JSON text."""
    task = tasks.get(state.task)
    if task is None:
        raise ChuteError(f"this worker does not serve task {state.task!r}")
    ctx = Context(state, worker_id)
    value = task.parse_input(raw_input)
    if task.is_async:
        result = await task.fn(value, ctx)
    else:
        pool = executor()
        call = contextvars.copy_context().run
        result = await state.loop.run_in_executor(pool, call, task.fn, value, ctx)
    return task.encode_output(result)


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
