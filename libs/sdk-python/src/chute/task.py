"""Tasks: a function with its options, bound to a client so it can be triggered and served."""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any, Generic, Literal, TypeVar, overload

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from chute.context import Context
from chute.duration import Duration, duration_ms
from chute.errors import NonRetryableError, WorkerConfigError
from chute.models import EmptyModel
from chute.runs import Runs, output_of
from chute.stream import OnAttempt

InputT = TypeVar("InputT")
OutputT = TypeVar("OutputT")

TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
"""Task names appear in URLs and on the log: 1-128 letters, digits, ``.``, ``_``, ``:`` or ``-``."""

DEFAULT_RETRIES = 0
DEFAULT_EXECUTION_TIMEOUT: Duration = "5m"
MAX_RETRIES = 100

_PASS_THROUGH: tuple[Any, ...] = (inspect.Parameter.empty, Any, None, type(None))


class WorkflowRunRef(Generic[OutputT]):
    """A run that was triggered (Hatchet's name): its id, its result and its stream."""

    def __init__(self, workflow_run_id: str, runs: Runs, parse_output: Callable[[Any], OutputT]) -> None:
        self.workflow_run_id = workflow_run_id
        self._runs = runs
        self._parse_output = parse_output

    @property
    def run_id(self) -> str:
        """Same as :attr:`workflow_run_id`."""
        return self.workflow_run_id

    async def aio_result(self) -> OutputT:
        """Wait for the run to end; return the task's output or raise :class:`~chute.errors.RunFailedError`."""
        return self._parse_output(output_of(await self._runs.aio_wait_for_end(self.workflow_run_id)))

    def result(self) -> OutputT:
        """Blocking :meth:`aio_result`."""
        return self._runs._blocking(self.aio_result(), "ref.aio_result")

    def stream(self, *, on_attempt: OnAttempt | None = None) -> AsyncIterator[str]:
        """The run's stream, as ``hatchet.runs.subscribe_to_stream(ref.workflow_run_id)``."""
        return self._runs.subscribe_to_stream(self.workflow_run_id, on_attempt=on_attempt)

    def __repr__(self) -> str:
        return f"WorkflowRunRef({self.workflow_run_id!r})"


class Task(Generic[InputT, OutputT]):
    """A task: ``@hatchet.task()`` makes one from a function ``fn(input, ctx)``.

    Serve it with ``hatchet.worker(..., workflows=[task])``; trigger it with
    :meth:`aio_run` / :meth:`run`. The input type is the annotation of ``fn``'s first
    parameter (a pydantic model, :class:`~chute.EmptyModel` when there is none); when
    ``fn``'s return annotation is a type, ``aio_run`` validates the output into it.
    """

    def __init__(
        self,
        fn: Callable[[InputT, Context], Any],
        *,
        runs: Runs,
        name: str | None = None,
        retries: int = DEFAULT_RETRIES,
        execution_timeout: Duration = DEFAULT_EXECUTION_TIMEOUT,
        input_validator: type[Any] | None = None,
    ) -> None:
        self.fn = fn
        self.name = name if name is not None else fn.__name__
        if not TASK_NAME.match(self.name):
            raise WorkerConfigError(
                f"task name {self.name!r} must be 1-128 letters, digits, '.', '_', ':' or '-', "
                "starting with a letter or digit"
            )
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
            raise WorkerConfigError(f"retries must be a whole number from 0 to {MAX_RETRIES}, got {retries!r}")
        self.retries = retries
        self.execution_timeout_ms = duration_ms(execution_timeout, "execution_timeout")
        self.is_async = inspect.iscoroutinefunction(fn)
        hints = _type_hints(fn, self.name)
        params = list(inspect.signature(fn).parameters.values())
        if len(params) < 2:
            raise WorkerConfigError(f"task {self.name!r}: the function must take (input, ctx)")
        self.input_type: Any = input_validator or hints.get(params[0].name, EmptyModel)
        self._input = TypeAdapter[InputT](self.input_type)
        output_type = hints.get("return", inspect.Parameter.empty)
        self._output = None if output_type in _PASS_THROUGH else TypeAdapter[OutputT](output_type)
        self._runs = runs

    # --- the worker's side -------------------------------------------------------

    def parse_input(self, raw: Any) -> InputT:
        """Validate an assignment's JSON input; an input that does not fit fails the run (no retry helps)."""
        if raw is None and _is_model(self.input_type):
            raw = {}  # a run triggered without input still fits a model whose fields all have defaults
        try:
            return self._input.validate_python(raw)
        except ValidationError as error:
            raise NonRetryableError(
                f"input of task {self.name!r} does not match {self._input_name()}: {error}"
            ) from None

    @staticmethod
    def dump_output(value: Any) -> Any:
        """The task's return value as JSON; a value that is not JSON fails the run (no retry helps)."""
        try:
            output = to_jsonable_python(value, by_alias=True)
            json.dumps(output, allow_nan=False)
        except (PydanticSerializationError, ValueError, TypeError) as error:
            raise NonRetryableError(f"task output is not JSON-serializable: {error}") from None
        return output

    @staticmethod
    def encode_output(value: Any) -> str:
        """The task's return value as JSON text, as the worker sends it; fails the run as :meth:`dump_output` does."""
        try:
            return json.dumps(to_jsonable_python(value, by_alias=True), ensure_ascii=False, allow_nan=False)
        except (PydanticSerializationError, ValueError, TypeError) as error:
            raise NonRetryableError(f"task output is not JSON-serializable: {error}") from None

    # --- the consumer's side -----------------------------------------------------

    def dump_input(self, input: InputT | Mapping[str, Any] | None) -> Any:
        """Validate ``input`` against the task's input type and return it as JSON."""
        if input is None:
            return {} if _is_model(self.input_type) else None
        value: InputT = input if _is_instance(input, self.input_type) else self._input.validate_python(input)  # type: ignore[assignment]
        return self._input.dump_python(value, mode="json", by_alias=True)

    def parse_output(self, raw: Any) -> OutputT:
        """The run's JSON output as the task's return type (as is when it has none)."""
        if self._output is None:
            return typing.cast(OutputT, raw)
        return self._output.validate_python(raw)

    @overload
    async def aio_run(
        self, input: InputT | Mapping[str, Any] | None = None, *, wait_for_result: Literal[True] = True
    ) -> OutputT: ...

    @overload
    async def aio_run(
        self, input: InputT | Mapping[str, Any] | None = None, *, wait_for_result: Literal[False]
    ) -> WorkflowRunRef[OutputT]: ...

    async def aio_run(
        self, input: InputT | Mapping[str, Any] | None = None, *, wait_for_result: bool = True
    ) -> OutputT | WorkflowRunRef[OutputT]:
        """Trigger a run; return its output, or at once its reference when ``wait_for_result=False``.

        The request carries the task's ``retries`` and ``execution_timeout``. Waiting raises
        :class:`~chute.errors.RunFailedError` when the run does not complete. A run that ends
        within 30 s costs one HTTP exchange: the trigger itself waits for the run's end.
        """
        if not wait_for_result:
            return await self.aio_run_no_wait(input)
        run = await self._runs.aio_trigger_and_wait(
            self.name, self.dump_input(input), retries=self.retries, execution_timeout_ms=self.execution_timeout_ms
        )
        return self.parse_output(output_of(run))

    async def aio_run_no_wait(self, input: InputT | Mapping[str, Any] | None = None) -> WorkflowRunRef[OutputT]:
        """Trigger a run and return its reference at once."""
        run_id = await self._runs.aio_trigger(
            self.name, self.dump_input(input), retries=self.retries, execution_timeout_ms=self.execution_timeout_ms
        )
        return WorkflowRunRef(run_id, self._runs, self.parse_output)

    @overload
    def run(
        self, input: InputT | Mapping[str, Any] | None = None, *, wait_for_result: Literal[True] = True
    ) -> OutputT: ...

    @overload
    def run(
        self, input: InputT | Mapping[str, Any] | None = None, *, wait_for_result: Literal[False]
    ) -> WorkflowRunRef[OutputT]: ...

    def run(
        self, input: InputT | Mapping[str, Any] | None = None, *, wait_for_result: bool = True
    ) -> OutputT | WorkflowRunRef[OutputT]:
        """Blocking :meth:`aio_run`."""
        if not wait_for_result:
            return self._runs._blocking(self.aio_run_no_wait(input), "task.aio_run")
        return self._runs._blocking(self.aio_run(input), "task.aio_run")

    def run_no_wait(self, input: InputT | Mapping[str, Any] | None = None) -> WorkflowRunRef[OutputT]:
        """Blocking :meth:`aio_run_no_wait`."""
        return self._runs._blocking(self.aio_run_no_wait(input), "task.aio_run_no_wait")

    def _input_name(self) -> str:
        return getattr(self.input_type, "__name__", repr(self.input_type))

    def __repr__(self) -> str:
        return f"Task({self.name!r}, retries={self.retries}, execution_timeout_ms={self.execution_timeout_ms})"


class TaskDecorator:
    """What ``hatchet.task(...)`` returns: applied to a function, it makes a :class:`Task`."""

    def __init__(
        self,
        runs: Runs,
        *,
        name: str | None,
        retries: int,
        execution_timeout: Duration,
        input_validator: type[Any] | None,
    ) -> None:
        self._runs = runs
        self._name = name
        self._retries = retries
        self._execution_timeout = execution_timeout
        self._input_validator = input_validator

    @overload
    def __call__(self, fn: Callable[[InputT, Context], Coroutine[Any, Any, OutputT]]) -> Task[InputT, OutputT]: ...

    @overload
    def __call__(self, fn: Callable[[InputT, Context], OutputT]) -> Task[InputT, OutputT]: ...

    def __call__(self, fn: Callable[[InputT, Context], Any]) -> Task[InputT, Any]:
        """Make the task."""
        return Task(
            fn,
            runs=self._runs,
            name=self._name,
            retries=self._retries,
            execution_timeout=self._execution_timeout,
            input_validator=self._input_validator,
        )


def _type_hints(fn: Callable[..., Any], name: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception as error:  # an annotation that names something not importable from fn's module
        raise WorkerConfigError(
            f"task {name!r}: cannot resolve the function's type annotations ({error}); pass input_validator="
        ) from error


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _is_instance(value: Any, tp: Any) -> bool:
    return isinstance(tp, type) and isinstance(value, tp)
