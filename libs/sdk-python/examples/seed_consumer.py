"""The seed's Python consumer: triggers ``stream_task`` and prints its stream as it arrives.

Run from this folder while ``seed_worker.py`` runs: ``../.venv/bin/python seed_consumer.py``.
"""

import asyncio

from seed_worker import hatchet, stream_task


async def main() -> None:
    ref = await stream_task.aio_run(wait_for_result=False)

    async for chunk in hatchet.runs.subscribe_to_stream(ref.workflow_run_id):
        print(chunk, flush=True, end="")


if __name__ == "__main__":
    asyncio.run(main())
