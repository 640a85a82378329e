"""A fake Chute gateway for the SDK's tests: the worker protocol over WebSocket and the consumer HTTP API.

Every message the SDK sends on the worker socket is checked against
``schemas/json/worker-protocol.schema.json`` (and the protocol's order: ``register``
first, ``started`` before an attempt's chunks, nothing after its end); every message the
fake sends is checked against the gateway's half of that schema or against
``stream.schema.json``, so the fake cannot drift from the real protocol either.
Problems are collected in ``violations``; the ``gateway`` fixture fails a test that has any.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex
from aiohttp import WSMsgType, web
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas" / "json"


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    # JSON Schema patterns are ECMA-262 regexes; `re` lacks their Unicode property classes (\P{Cc}), `regex` has them.
    if isinstance(instance, str) and not regex.search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


Validator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


def _validator(file: str, definition: str) -> Any:
    schema = json.loads((SCHEMAS / file).read_text())
    root = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    return Validator(root, format_checker=FormatChecker())


WORKER_MESSAGE = _validator("worker-protocol.schema.json", "workerMessage")
GATEWAY_MESSAGE = _validator("worker-protocol.schema.json", "gatewayMessage")
STREAM_MESSAGE = _validator("stream.schema.json", "streamMessage")


def problems(validator: Any, message: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(message)]


@dataclass
class WorkerConnection:
    """One worker socket, as the fake gateway sees it."""

    ws: web.WebSocketResponse
    headers: dict[str, str]
    gateway: FakeGateway
    received: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    log: list[dict[str, Any]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    registered: bool = False
    open_attempts: set[tuple[str, int]] = field(default_factory=set)
    ended_attempts: set[tuple[str, int]] = field(default_factory=set)

    async def send(self, message: dict[str, Any]) -> None:
        found = problems(GATEWAY_MESSAGE, message)
        assert not found, f"the fake gateway itself sent an invalid message {message}: {found}"
        if message["type"] == "assigned":
            self.open_attempts.add((message["runId"], message["attempt"]))
        await self.ws.send_str(json.dumps(message))

    async def next(self, *types: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next message of one of ``types`` (heartbeats skipped unless asked for)."""
        wanted = types or None
        async with asyncio.timeout(timeout):
            while True:
                message = await self.received.get()
                if wanted is None and message["type"] == "heartbeat":
                    continue
                if wanted is None or message["type"] in wanted:
                    return message

    async def assign(
        self, task: str, input: Any = None, *, run_id: str | None = None, attempt: int = 1
    ) -> tuple[str, int]:
        run_id = run_id or str(uuid.uuid4())
        await self.send(
            {
                "type": "assigned",
                "runId": run_id,
                "attempt": attempt,
                "task": task,
                "input": input if input is not None else {},
                "deadlineAt": int(time.time() * 1000) + 60_000,
            }
        )
        return run_id, attempt

    async def register(self) -> dict[str, Any]:
        """Answer the worker's ``register`` as the gateway does."""
        message = await self.next("register")
        await self.register_answer(message)
        return message

    async def register_answer(self, message: dict[str, Any]) -> None:
        await self.send(
            {
                "type": "registered",
                "workerId": f"{message['name']}-{uuid.uuid4().hex[:8]}",
                "heartbeatIntervalMs": self.gateway.heartbeat_ms,
                "maxChunkBytes": self.gateway.max_chunk_bytes,
            }
        )
        self.registered = True

    async def close(self, code: int = 1001, error: dict[str, str] | None = None) -> None:
        if error is not None:
            await self.send({"type": "error", **error})
        await self.ws.close(code=code)

    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        async with asyncio.timeout(timeout):
            await self.closed.wait()
        return self.close_code

    def check_order(self, message: dict[str, Any]) -> list[str]:
        kind = message["type"]
        if not self.log and kind != "register":
            return [f"first message must be register, got {kind}"]
        if kind == "register" and self.log:
            return ["register sent twice on one connection"]
        if kind in ("started", "chunk", "completed", "failed"):
            key = (message["runId"], message["attempt"])
            if key not in self.open_attempts:
                return [f"{kind} for attempt {key} that was never assigned"]
            if key in self.ended_attempts:
                return [f"{kind} for attempt {key} after its end"]
            started = any(m["type"] == "started" and (m["runId"], m["attempt"]) == key for m in self.log)
            if kind != "started" and not started:
                return [f"{kind} for attempt {key} before started"]
            if kind == "started" and started:
                return [f"started twice for attempt {key}"]
            if kind in ("completed", "failed"):
                self.ended_attempts.add(key)
        return []


@dataclass
class StreamSession:
    """What the fake sends on one stream request: messages, then an end (in ``messages``) or a drop."""

    messages: list[dict[str, Any]]
    abort: bool = False
    delay: float = 0.0


@dataclass
class BridgedRun:
    """A run the fake carries end to end (``bridge=True``): triggered, assigned, streamed, ended."""

    run_id: str
    task: str
    input: Any
    items: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    status: str = "QUEUED"
    output: Any = None
    error: Any = None

    async def ended(self) -> None:
        while not self.items or self.items[-1]["type"] != "end":
            await self.changed.wait()

    def publish(self, item: dict[str, Any]) -> None:
        self.items.append(item)
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


class FakeGateway:
    """Serves both sides of the gateway on 127.0.0.1 with an ephemeral port.

    With ``bridge=True`` it also plays the platform: a triggered run is assigned to the
    first registered worker, and what the worker sends becomes the run's stream and result.
    """

    def __init__(self, *, heartbeat_ms: int = 50, max_chunk_bytes: int = 64, bridge: bool = False) -> None:
        self.heartbeat_ms = heartbeat_ms
        self.max_chunk_bytes = max_chunk_bytes
        self.bridge = bridge
        self.runs: dict[str, BridgedRun] = {}
        self.workers: list[WorkerConnection] = []
        self.violations: list[str] = []
        self.connections: asyncio.Queue[WorkerConnection] = asyncio.Queue()
        self.all_connections: list[WorkerConnection] = []
        self.triggers: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.results: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.streams: dict[str, list[StreamSession]] = {}
        self.stream_requests: list[dict[str, str]] = []
        self.errors: dict[str, tuple[int, dict[str, str]]] = {}
        self.default_output: Any = {"ok": True}
        # Consumer HTTP requests as (method, path, query, client port): what each call cost, on which connection.
        self.requests: list[tuple[str, str, dict[str, str], int]] = []
        # What a trigger with ?waitMs= answers, in turn: (status, run status). Default: 200 COMPLETED.
        self.waited_triggers: list[tuple[int, str]] = []
        self.ignore_wait = False  # answer a trigger with ?waitMs= as a gateway without it does: 201 {runId}
        self.next_run_ids: list[str] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/api/v1/workers/connect", self._worker_socket)
        app.router.add_post("/api/v1/tasks/{name}/runs", self._trigger)
        app.router.add_get("/api/v1/runs/{id}/result", self._result)
        app.router.add_get("/api/v1/runs/{id}/stream", self._stream)
        app.router.add_get("/api/v1/runs/{id}", self._get)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        for connection in self.all_connections:
            if not connection.ws.closed:
                await connection.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    async def next_connection(self, timeout: float = 5.0) -> WorkerConnection:
        async with asyncio.timeout(timeout):
            return await self.connections.get()

    async def registered_connection(self, timeout: float = 5.0) -> WorkerConnection:
        connection = await self.next_connection(timeout)
        await connection.register()
        return connection

    # --- worker protocol ---------------------------------------------------------

    async def _worker_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connection = WorkerConnection(ws=ws, headers=dict(request.headers), gateway=self)
        self.all_connections.append(connection)
        await self.connections.put(connection)
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    self.violations.append(f"non-text frame {frame.type}")
                    continue
                try:
                    message = json.loads(frame.data)
                except ValueError:
                    self.violations.append(f"not JSON: {frame.data[:200]!r}")
                    continue
                found = problems(WORKER_MESSAGE, message)
                if found:
                    self.violations.append(f"invalid worker message {message}: {found}")
                else:
                    self.violations.extend(connection.check_order(message))
                connection.log.append(message)
                if self.bridge:
                    await self._bridge(connection, message)
                await connection.received.put(message)
        finally:
            connection.close_code = ws.close_code
            connection.closed.set()
        return ws

    async def _bridge(self, connection: WorkerConnection, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "register":
            await connection.register_answer(message)
            self.workers.append(connection)
            return
        run = self.runs.get(message.get("runId", ""))
        if run is None:
            return
        if kind == "started":
            run.status = "RUNNING"
        elif kind == "chunk":
            seq = sum(1 for item in run.items if item["type"] == "chunk")
            item = {"type": "chunk", "seq": seq, "attempt": message["attempt"], "data": message["data"]}
            if message.get("encoding") == "base64":
                item["encoding"] = "base64"
            run.publish(item)
        elif kind in ("completed", "failed"):
            run.status = "COMPLETED" if kind == "completed" else "FAILED"
            run.output = message.get("output")
            run.error = message.get("error")
            run.publish({"type": "end", "status": run.status})

    # --- consumer HTTP API -------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path != "/api/v1/workers/connect":
            peer = request.transport.get_extra_info("peername") if request.transport is not None else None
            self.requests.append((request.method, request.path, dict(request.query), peer[1] if peer else 0))
        response: web.StreamResponse = await handler(request)
        return response

    def run_view(self, run_id: str, status: str = "COMPLETED", **fields: Any) -> dict[str, Any]:
        now = "2026-11-01T00:00:00.000Z"
        final = status in ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
        view = {
            "runId": run_id,
            "task": "t",
            "status": status,
            "input": {},
            "output": None,
            "error": None,
            "attempt": 1,
            "retries": 0,
            "workerId": "w-1",
            "createdAt": now,
            "updatedAt": now,
            "startedAt": now,
            "finishedAt": now if final else None,
        }
        view.update(fields)
        return view

    async def _trigger(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name in self.errors:
            status, body = self.errors[name]
            return web.json_response(body, status=status)
        wait_ms: int | None = None
        if "waitMs" in request.query:
            raw = request.query["waitMs"]
            if not raw.isdigit() or int(raw) > 120_000:
                message = f"waitMs: expected a whole number from 0 to 120000, got {raw!r}"
                return web.json_response({"code": "BAD_REQUEST", "message": message}, status=400)
            wait_ms = int(raw)
        body = await request.json()
        self.triggers.append((name, body, dict(request.headers)))
        run_id = self.next_run_ids.pop(0) if self.next_run_ids else str(uuid.uuid4())
        run: BridgedRun | None = None
        if self.bridge:
            run = self.runs[run_id] = BridgedRun(run_id, name, body.get("input"))
            serving = [w for w in self.workers if name in w.log[0]["tasks"] and not w.ws.closed]
            if serving:
                await serving[0].assign(name, run.input, run_id=run_id)
        if wait_ms is None or self.ignore_wait:
            return web.json_response({"runId": run_id}, status=201)
        if run is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_ms / 1000):
                    await run.ended()
            ended = run.status in ("COMPLETED", "FAILED")
            view = self.run_view(run_id, run.status, task=name, output=run.output, error=run.error)
            return web.json_response(view, status=200 if ended else 202)
        status, run_status = self.waited_triggers.pop(0) if self.waited_triggers else (200, "COMPLETED")
        output = self.default_output if run_status == "COMPLETED" else None
        return web.json_response(self.run_view(run_id, run_status, task=name, output=output), status=status)

    async def _result(self, request: web.Request) -> web.Response:
        run_id = request.match_info["id"]
        assert request.query.get("timeoutMs") == "30000"
        if run_id in self.runs:
            run = self.runs[run_id]
            await run.ended()
            return web.json_response(self.run_view(run_id, run.status, output=run.output, error=run.error))
        script = self.results.get(run_id)
        if not script:
            return web.json_response(self.run_view(run_id, output=self.default_output))
        status, view = script.pop(0)
        return web.json_response(view, status=status)

    async def _get(self, request: web.Request) -> web.Response:
        run_id = request.match_info["id"]
        return web.json_response(self.run_view(run_id, output=self.default_output))

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        run_id = request.match_info["id"]
        self.stream_requests.append({**request.query, "_accept": request.headers.get("Accept", "")})
        if run_id in self.runs:
            return await self._bridged_stream(request, self.runs[run_id])
        sessions = self.streams.get(run_id)
        if not sessions:
            return web.json_response({"code": "RUN_NOT_FOUND", "message": f"run {run_id} not found"}, status=404)
        session = sessions.pop(0)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        for message in session.messages:
            await self._write_event(response, message)
            if session.delay:
                await asyncio.sleep(session.delay)
        if session.abort:
            assert request.transport is not None
            request.transport.abort()
            return response
        await response.write_eof()
        return response

    async def _write_event(self, response: web.StreamResponse, message: dict[str, Any]) -> None:
        found = problems(STREAM_MESSAGE, message)
        assert not found, f"the fake gateway itself sent an invalid stream message {message}: {found}"
        body = {k: v for k, v in message.items() if k != "type"}
        frame = ""
        if message["type"] == "chunk":
            position = str(message["seq"]) if message["attempt"] == 1 else f"{message['attempt']}:{message['seq']}"
            frame += f"id: {position}\n"
        frame += f"event: {message['type']}\ndata: {json.dumps(body)}\n\n"
        await response.write(frame.encode())

    async def _bridged_stream(self, request: web.Request, run: BridgedRun) -> web.StreamResponse:
        """The run's stream from now (or from its start with ``from=start``), as the real gateway serves it."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        index = 0 if request.query.get("from") == "start" else len(run.items)
        if run.items and run.items[-1]["type"] == "end":
            index = min(index, len(run.items) - 1)
        while True:
            changed = run.changed  # taken before reading items, so no publish is missed
            while index < len(run.items):
                item = run.items[index]
                index += 1
                await self._write_event(response, item)
                if item["type"] == "end":
                    await response.write_eof()
                    return response
            await changed.wait()
