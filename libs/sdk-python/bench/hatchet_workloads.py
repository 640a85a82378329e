"""Hatchet's own Python-SDK workloads, run on Chute through this SDK; prints one JSON line.

The workloads, their sizes and the way they are measured follow Hatchet's peer script
(``reference/hatchet/bench.py``, run against the Hatchet engine), so its figures and these
stand side by side:

  stream  one task puts ``--stream-chunks`` chunks (500), 20 ms apart on a fixed schedule, each
          carrying ``time.time_ns()`` at send, after a 2 s pause so the consumer subscribes first;
          the consumer (``chute.runs.subscribe_to_stream``) takes receive - send.
  runs    ``--runs`` no-op runs (2000), each ``await task.aio_run()`` (trigger + wait for the
          result), by ``--clients`` concurrent coroutines (100), closed loop: runs/s,
          trigger -> result, and CPU per run (the machine's, from /proc/stat; this process's; the
          worker's).
  start   open loop, ``--rate`` runs/s (20) for ``--seconds`` (20): trigger -> task start (the
          task returns ``time.time_ns()`` as it starts).

Usage, with a gateway at ``CHUTE_GATEWAY_URL`` and ``CHUTE_TOKEN`` allowing ``runs:write``,
``runs:read``, ``stream:read`` and ``workers``::

    .venv/bin/python bench/hatchet_workloads.py --stream-chunks 500 --runs 2000 --clients 100 --rate 20 --seconds 20

It starts its own worker (``hatchet_workloads.py worker``, serving ``py-noop`` and ``py-stream``
over the gateway's worker protocol), waits until a no-op run succeeds, runs the three workloads,
and stops the worker on every way out (the worker also stops when this process dies: its stdin
closes). Output (stdout, one line)::

    {"stream": {"p50", "p95", "p99", "n"}, "runs": {"runsPerSecond", "p50", "p99",
     "machineCpuMsPerRun", "clientCpuMsPerRun", "workerCpuMsPerRun"}, "start": {"p50", "p95", "p99", "n"}}

Latencies are in ms; ``n`` is the number of samples (for the stream, the chunks received).
Percentiles are the reference's: the value at index floor(p/100 * n) of the sorted sample. A
run that fails ends the script with exit code 1, the error (and the worker's last log lines) on
stderr, and no JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any, TypeVar

from chute import Chute, Context, EmptyModel

T = TypeVar("T")

NOOP_TASK = "py-noop"
STREAM_TASK = "py-stream"
"""Names of their own: the platform's TypeScript worker serves ``noop``, ``clock``, ..."""

STREAM_GAP_MS = 20.0
STREAM_DELAY_S = 2.0
WARMUP_STREAM_CHUNKS = 20
WARMUP_RUNS = 200
WARMUP_CLIENTS = 50
WORKER_UP_TIMEOUT_S = 90.0
WORKER_STOP_GRACE_S = 15.0

chute = Chute()


@dataclass
class StreamInput:
    """What the stream task puts: ``count`` chunks, ``gap_ms`` apart, after ``delay_s``."""

    count: int = 500
    gap_ms: float = STREAM_GAP_MS
    delay_s: float = STREAM_DELAY_S


@chute.task(name=NOOP_TASK)
async def noop(input: EmptyModel, ctx: Context) -> dict[str, int]:
    """Does nothing but say when it started (wall clock, ns)."""
    return {"start": time.time_ns()}


@chute.task(name=STREAM_TASK, execution_timeout="5m")
async def stream(input: StreamInput, ctx: Context) -> dict[str, int]:
    """Puts ``input.count`` chunks, each its send time (wall clock, ns), on a fixed schedule."""
    await asyncio.sleep(input.delay_s)  # lets the consumer subscribe first
    t0 = time.monotonic()
    for i in range(input.count):
        # Chunk i goes at t0 + i * gap, not gap after the previous send: a slow send does not shift the rest.
        wait = t0 + i * input.gap_ms / 1000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        await ctx.aio_put_stream(str(time.time_ns()))
    return {"sent": input.count}


# ---------------------------------------------------------------- measurement helpers


def pct(values: list[float], p: float) -> float:
    """The reference's percentile: the value at index floor(p/100 * n) of the sorted sample."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def distribution(values: list[float]) -> dict[str, float]:
    """p50, p95 and p99 in ms, and the sample's size."""
    return {
        "p50": round(pct(values, 50), 3),
        "p95": round(pct(values, 95), 3),
        "p99": round(pct(values, 99), 3),
        "n": len(values),
    }


TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds the machine has been busy: the reference's total - idle - iowait of /proc/stat's ``cpu`` line.

    Only user, nice, system, idle, iowait, irq, softirq and steal are summed: guest time is
    already in user (the reference sums it too; it is 0 on a machine that hosts no VM).
    """
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / TICK


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (every thread; utime + stime); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


class CpuWindow:
    """CPU used while a workload runs: the machine's, this process's and the worker's, and the wall time."""

    def __init__(self, worker_pid: int) -> None:
        self.worker_pid = worker_pid
        self.seconds = 0.0
        self.used: dict[str, float] = {}

    def _sample(self) -> dict[str, float]:
        return {
            "machine": machine_busy_s(),
            "client": time.process_time(),
            "worker": process_cpu_s(self.worker_pid),
        }

    def __enter__(self) -> CpuWindow:
        self._t0, self._c0 = time.perf_counter(), self._sample()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.perf_counter() - self._t0
        c1 = self._sample()
        self.used = {k: c1[k] - self._c0[k] for k in c1}

    def ms_per_run(self, what: str, runs: int) -> float:
        """CPU ms of ``what`` (machine, client, worker) per run."""
        return round(1000 * self.used[what] / runs, 3)


# ---------------------------------------------------------------- workloads


async def pool(n: int, concurrency: int, fn: Callable[[int], Awaitable[T]]) -> list[T]:
    """``fn(0)`` .. ``fn(n - 1)`` by ``concurrency`` coroutines, each starting its next call when one ends."""
    out: dict[int, T] = {}
    nxt = 0

    async def one() -> None:
        nonlocal nxt
        while nxt < n:
            i = nxt
            nxt += 1
            out[i] = await fn(i)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, n)):
            group.create_task(one())
    return [out[i] for i in range(n)]


async def noop_once(_: int) -> tuple[float, float]:
    """One waited no-op run: (trigger -> task start, trigger -> result), in ms."""
    t_ns = time.time_ns()
    p0 = time.perf_counter()
    result = await noop.aio_run()
    done_ms = (time.perf_counter() - p0) * 1000
    return (result["start"] - t_ns) / 1e6, done_ms


async def stream_once(count: int) -> list[float]:
    """One stream of ``count`` chunks: receive - send of each chunk received, in ms."""
    ref = await stream.aio_run_no_wait(StreamInput(count=count))
    latencies: list[float] = []
    async for chunk in chute.runs.subscribe_to_stream(ref.workflow_run_id):
        latencies.append((time.time_ns() - int(chunk)) / 1e6)
    await ref.aio_result()  # a stream task that failed fails the benchmark
    return latencies


async def stream_bench(chunks: int) -> dict[str, float]:
    """The stream workload, after a warm-up stream that is not reported."""
    await stream_once(WARMUP_STREAM_CHUNKS)
    return distribution(await stream_once(chunks))


async def runs_bench(worker_pid: int, runs: int, clients: int) -> dict[str, float]:
    """The closed-loop runs workload, after a warm-up that is not reported."""
    await pool(min(WARMUP_RUNS, runs), min(WARMUP_CLIENTS, clients), noop_once)
    with CpuWindow(worker_pid) as window:
        timings = await pool(runs, clients, noop_once)
    done = [t[1] for t in timings]
    return {
        "runsPerSecond": round(runs / window.seconds, 2),
        "p50": round(pct(done, 50), 3),
        "p99": round(pct(done, 99), 3),
        "machineCpuMsPerRun": window.ms_per_run("machine", runs),
        "clientCpuMsPerRun": window.ms_per_run("client", runs),
        "workerCpuMsPerRun": window.ms_per_run("worker", runs),
    }


async def start_bench(rate: float, seconds: float) -> dict[str, float]:
    """The open-loop workload: a run every 1/rate s (on a fixed schedule) for ``seconds``; trigger -> task start."""
    n = max(1, int(rate * seconds))
    pending: list[asyncio.Task[tuple[float, float]]] = []
    begin = time.perf_counter()
    for i in range(n):
        wait = begin + i / rate - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        pending.append(asyncio.create_task(noop_once(i)))
    timings = await asyncio.gather(*pending)
    return distribution([t[0] for t in timings])


async def wait_for_worker(worker: subprocess.Popen[bytes]) -> None:
    """Until a no-op run succeeds: the worker has started, connected and registered its tasks."""
    deadline = time.monotonic() + WORKER_UP_TIMEOUT_S
    while True:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode} before it served")
        try:
            # A run triggered before the worker registers waits for it: the first one usually succeeds.
            await asyncio.wait_for(noop.aio_run(), 5)
            return
        except TimeoutError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no no-op run succeeded within {WORKER_UP_TIMEOUT_S:g} s") from None


async def measure(args: argparse.Namespace, worker: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The three workloads, one after the other, once the worker serves."""
    try:
        await wait_for_worker(worker)
        return {
            "stream": await stream_bench(args.stream_chunks),
            "runs": await runs_bench(worker.pid, args.runs, args.clients),
            "start": await start_bench(args.rate, args.seconds),
        }
    finally:
        await chute.aclose()


# ---------------------------------------------------------------- the worker process


def serve(slots: int) -> None:
    """The worker process: serve the two tasks until SIGTERM/SIGINT, or until stdin closes."""
    worker = chute.worker("py-bench-worker", slots=slots, workflows=[noop, stream], drain_timeout=5)

    def stop_at_eof() -> None:
        # The benchmark never writes: EOF means it closed the pipe or died (even by SIGKILL).
        sys.stdin.buffer.read()
        worker.stop()

    threading.Thread(target=stop_at_eof, name="stop-at-eof", daemon=True).start()
    worker.start()


def start_worker(slots: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start ``hatchet_workloads.py worker`` with this interpreter, its output into ``log``."""
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "worker", "--slots", str(slots)],
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """Drain and stop the worker (stdin closed and SIGTERM), kill it past the grace; raise if it still lives."""
    if worker.poll() is None:
        # One stop request, not two: the worker takes a second SIGTERM as "give up the running attempts",
        # but stdin's EOF only calls the idempotent `worker.stop()`.
        worker.terminate()
        if worker.stdin is not None:
            worker.stdin.close()
        try:
            worker.wait(WORKER_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            worker.kill()
            try:
                worker.wait(5)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"the worker (pid {worker.pid}) is still running after SIGKILL") from None
    elif worker.stdin is not None:
        worker.stdin.close()


def log_tail(log: IO[bytes], lines: int = 40) -> str:
    """The last lines the worker wrote (read at an offset: the worker shares the file's position)."""
    fd = log.fileno()
    text = os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def exit_on_signal(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the script through its ``finally`` blocks, so the worker is stopped."""
    raise SystemExit(128 + signum)


def first_error(error: BaseException) -> BaseException:
    """The first leaf of an exception group (a failed run inside a ``TaskGroup``)."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("command", nargs="?", choices=["bench", "worker"], default="bench")
    parser.add_argument("--stream-chunks", type=int, default=500, help="chunks of the measured stream (default 500)")
    parser.add_argument("--runs", type=int, default=2000, help="closed-loop no-op runs (default 2000)")
    parser.add_argument("--clients", type=int, default=100, help="concurrent closed-loop clients (default 100)")
    parser.add_argument("--rate", type=float, default=20.0, help="open-loop runs per second (default 20)")
    parser.add_argument("--seconds", type=float, default=20.0, help="open-loop duration in seconds (default 20)")
    parser.add_argument("--slots", type=int, default=200, help="the worker's slots (default 200)")
    args = parser.parse_args(argv)
    if min(args.stream_chunks, args.runs, args.clients, args.slots) < 1 or args.rate <= 0 or args.seconds <= 0:
        parser.error("every size must be positive")
    return args


def main(argv: list[str]) -> int:
    """Run the worker, or the benchmark around a worker of its own."""
    args = parse_args(argv)
    if args.command == "worker":
        serve(args.slots)
        return 0
    signal.signal(signal.SIGTERM, exit_on_signal)
    with tempfile.TemporaryFile("w+b") as log:
        worker = start_worker(args.slots, log)
        try:
            result = asyncio.run(measure(args, worker))
        except Exception as error:
            print(f"hatchet_workloads.py: {first_error(error)!r}", file=sys.stderr)
            print(f"the worker's last lines:\n{log_tail(log)}", file=sys.stderr)
            return 1
        finally:
            stop_worker(worker)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
