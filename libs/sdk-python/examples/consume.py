"""Trigger a run of a task by name (input ``{}``) and print its stream to stdout exactly.

Usage, from this folder: ``../.venv/bin/python consume.py <task-name>``

The stream is read from its first chunk (``from_start``), so a task that streams at once
loses nothing. Exits 1 (with the reason on stderr) when the run does not complete.
"""

import asyncio
import sys

from chute import Chute, RunFailedError


async def main(task_name: str) -> int:
    hatchet = Chute()
    ref = await hatchet.aio_trigger(task_name, {})
    async for chunk in hatchet.runs.subscribe_to_stream(ref.workflow_run_id, from_start=True):
        print(chunk, flush=True, end="")
    try:
        await ref.aio_result()
    except RunFailedError as error:
        print(f"consume.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: consume.py <task-name>", file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main(sys.argv[1])))
