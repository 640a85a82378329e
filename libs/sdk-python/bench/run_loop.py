"""Load through the SDK: N ``aio_run`` calls, C at a time, in one event loop; prints one JSON line.

Usage, with a gateway at ``CHUTE_GATEWAY_URL`` (and ``CHUTE_TOKEN`` if it wants one) and a
worker serving the task somewhere else::

    .venv/bin/python bench/run_loop.py --clients 100 --runs 2000 --task noop

The task is triggered with input ``{}``. Output (stdout, one line)::

    {"runs": N, "seconds": s, "runsPerSecond": r, "clientCpuMsPerRun": c,
     "latencyMs": {"p50": .., "p95": .., "p99": ..}}

``clientCpuMsPerRun`` is this process's user+system CPU during the measured part, divided
by N: what the SDK costs the program that triggers runs. A run that fails ends the script
with exit code 1 and the error on stderr, and no JSON: a figure with failures in it would
not be comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from typing import Any

from chute import Chute, Context, EmptyModel, Task


def percentile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank percentile ``q`` (0-100) of a sorted, non-empty list."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


async def drive(task: Task[EmptyModel, Any], runs: int, clients: int, latencies: list[float] | None) -> None:
    """Run ``task`` ``runs`` times with ``clients`` coroutines, each starting its next run when one ends."""
    remaining = runs

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await task.aio_run({})
            if latencies is not None:
                latencies.append((time.perf_counter() - started) * 1000)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(clients, runs)):
            group.create_task(client())


async def main(clients: int, runs: int, task_name: str, warmup: int) -> dict[str, Any]:
    """Warm up (connections opened, code paths warm), then measure ``runs`` runs."""
    hatchet = Chute()

    @hatchet.task(name=task_name)
    async def handle(input: EmptyModel, ctx: Context) -> Any:
        raise AssertionError("served by a worker elsewhere")  # only triggered from here

    try:
        await drive(handle, warmup, clients, None)
        latencies: list[float] = []
        cpu_before = time.process_time()
        started = time.perf_counter()
        await drive(handle, runs, clients, latencies)
        seconds = time.perf_counter() - started
        cpu_ms = (time.process_time() - cpu_before) * 1000
    finally:
        await hatchet.aclose()
    latencies.sort()
    return {
        "runs": runs,
        "seconds": round(seconds, 4),
        "runsPerSecond": round(runs / seconds, 2),
        "clientCpuMsPerRun": round(cpu_ms / runs, 4),
        "latencyMs": {f"p{q}": round(percentile(latencies, q), 3) for q in (50, 95, 99)},
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=100, help="concurrent coroutines (default 100)")
    parser.add_argument("--runs", type=int, default=1000, help="measured runs (default 1000)")
    parser.add_argument("--task", default="noop", help="task name (default noop)")
    parser.add_argument("--warmup", type=int, default=None, help="unmeasured runs first (default: 2 per client)")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.runs < 1:
        parser.error("--clients and --runs must be at least 1")
    if args.warmup is None:
        args.warmup = 2 * args.clients
    return args


if __name__ == "__main__":
    options = parse_args(sys.argv[1:])
    try:
        result = asyncio.run(main(options.clients, options.runs, options.task, options.warmup))
    except BaseExceptionGroup as group:
        first = group.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        print(f"run_loop.py: a run failed: {first!r}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result), flush=True)
