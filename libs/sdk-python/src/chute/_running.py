"""The attempts a worker is running, keyed by run and attempt, and the threads its synchronous tasks run in."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chute._attempt import run_attempt
from chute.context import AttemptState, FrameSink
from chute.task import Task


class RunningAttempts:
    """The attempts running on one worker, from their assignment until they end or are cancelled.

    The gateway never assigns more than the worker's ``slots`` at once, so synchronous tasks
    get a pool of ``slots`` threads, made when the first one runs.
    """

    def __init__(self, name: str, slots: int, tasks: Mapping[str, Task[Any, Any]]) -> None:
        self._name = name
        self._slots = slots
        self._tasks = tasks
        self._states: dict[tuple[str, int], AttemptState] = {}
        self._executor: ThreadPoolExecutor | None = None

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, key: object) -> bool:
        return key in self._states

    def get(self, key: tuple[str, int]) -> AttemptState | None:
        """The attempt running as ``(run id, attempt number)``, if any."""
        return self._states.get(key)

    def on(self, connection: FrameSink) -> list[AttemptState]:
        """The attempts assigned on ``connection``."""
        return [s for s in self._states.values() if s.sink is connection]

    def start(self, state: AttemptState, raw_input: Any, worker_id: str) -> None:
        """Run the attempt ``state`` in its own asyncio task, and keep it here until that task is done."""
        self._states[(state.run_id, state.attempt)] = state
        handle = state.handle = asyncio.create_task(
            self._run(state, raw_input, worker_id), name=f"chute-{state.run_id}-{state.attempt}"
        )
        # A task cancelled before its first step (its `assigned` and `cancel` came in one read) never
        # runs `_run`'s body, `finally` included; without this the attempt would stay here for good,
        # and a drain waiting on its (done) task would spin until its deadline.
        handle.add_done_callback(lambda _: self._forget(state))

    async def _run(self, state: AttemptState, raw_input: Any, worker_id: str) -> None:
        try:
            await run_attempt(state, self._tasks, raw_input, worker_id, self._pool)
        finally:
            # Gone as its end is queued, not a loop turn later as by the done-callback: a drain that
            # hits its deadline meanwhile would otherwise cancel it, and drop its `completed` unsent.
            self._forget(state)

    def _forget(self, state: AttemptState) -> None:
        key = (state.run_id, state.attempt)
        if self._states.get(key) is state:
            del self._states[key]

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._slots, thread_name_prefix=f"chute-{self._name}")
        return self._executor

    def cancel_on(self, connection: FrameSink, reason: str) -> int:
        """Cancel the attempts of ``connection`` not cancelled yet; return how many."""
        cancelled = 0
        for state in list(self._states.values()):
            if state.sink is connection and not state.cancelled:
                state.cancel(reason)
                cancelled += 1
        return cancelled

    def cancel_all(self, reason: str) -> None:
        """Cancel every attempt."""
        for state in list(self._states.values()):
            state.cancel(reason)

    def shutdown(self) -> None:
        """Let the threads go without waiting for them; tasks queued for a thread never run."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
