"""The worker's socket to one gateway, and the one queue that orders everything sent on it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection

from chute.context import AttemptState, Frame


@dataclass
class _Outgoing:
    frame: Frame | str  # a str is the message already encoded as JSON
    attempt: AttemptState | None
    written: asyncio.Future[None] | None


class Connection:
    """One socket to one gateway, and the single queue that orders everything sent on it.

    Every message goes through the queue and one writer task, so an attempt's chunks
    reach the gateway in the order they were put, and before its ``completed``/``failed``.
    Messages of an attempt cancelled while they waited are dropped: after a ``cancel``
    nothing more is sent for that attempt.
    """

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.max_chunk_bytes = 1  # set from `registered`; no chunk is put before that
        self.closed = False
        self._queue: asyncio.Queue[_Outgoing] = asyncio.Queue()

    def send_nowait(self, frame: Frame | str, attempt: AttemptState | None = None) -> None:
        """Queue ``frame`` (a message, or a message already encoded as JSON)."""
        if not self.closed:
            self._queue.put_nowait(_Outgoing(frame, attempt, None))

    async def send(self, frame: Frame, attempt: AttemptState | None = None) -> None:
        """Queue ``frame`` and wait until it is written; cancelled if the connection ends first."""
        if self.closed:
            raise asyncio.CancelledError("the connection to the gateway is closed")
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Outgoing(frame, attempt, written))
        await written

    async def flush(self) -> None:
        """Wait until everything queued so far is written."""
        await self.send({"type": "_flush"})

    async def write_forever(self) -> None:
        """Write queued messages in order until the socket fails (then raise its error)."""
        try:
            while True:
                item = await self._queue.get()
                frame = item.frame
                flush = not isinstance(frame, str) and frame["type"] == "_flush"
                if not flush and not (item.attempt is not None and item.attempt.cancelled):
                    text = frame if isinstance(frame, str) else json.dumps(frame, ensure_ascii=False, allow_nan=False)
                    try:
                        await self.socket.send(text)
                    except BaseException:
                        if item.written is not None:
                            item.written.cancel()
                        raise
                if item.written is not None and not item.written.done():
                    item.written.set_result(None)
        finally:
            self.close()

    def close(self) -> None:
        """Refuse further messages and release whoever waits on a queued one."""
        self.closed = True
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item.written is not None:
                item.written.cancel()
