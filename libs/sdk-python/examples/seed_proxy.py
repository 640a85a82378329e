"""The seed's FastAPI proxy: ``GET /stream`` triggers ``stream_task`` and streams its text back.

Run from this folder: ``../.venv/bin/python -m uvicorn seed_proxy:app --port 8000``
(or ``PORT=8000 ../.venv/bin/python seed_proxy.py``), then ``curl -N http://127.0.0.1:8000/stream``.
"""

import os

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from chute import Chute

from seed_worker import stream_task

hatchet = Chute()
app = FastAPI()


@app.get("/stream")
async def stream() -> StreamingResponse:
    ref = await stream_task.aio_run(wait_for_result=False)

    return StreamingResponse(hatchet.runs.subscribe_to_stream(ref.workflow_run_id), media_type="text/plain")


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")))
