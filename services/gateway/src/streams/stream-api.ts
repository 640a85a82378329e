import { z } from 'zod';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type {} from '@fastify/websocket';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { isFinal, type RunState } from '@chute/domain';
import { ChuteError } from '@chute/runtime';
import { ApiError, RunIdParams, StreamQuery, StreamTokenResponse, type FinalStatus, type StreamChunkMessage, type StreamMessage } from '@chute/schemas';
import { formatPosition, parsePosition, type CloseReason, type Sink, type StreamFrom, type StreamHub, type StreamItem, type StreamSubscriber } from './stream-hub';

export interface StreamApiDeps {
  hub: StreamHub;
  /** The tenant's run: the read model with what the gateway's tail saw folded on, or its own fold of a fresh trigger. */
  currentState(runId: string, tenant: string): Promise<RunState | undefined>;
  /** Mints run-scoped stream tokens; undefined while auth is off (streams then need no token). */
  streamTokens: StreamTokens | undefined;
  /** How long a stream request waits for a run it does not know yet before answering 404. @default 3000 */
  unknownRunGraceMs?: number;
}

/** Mints a token that reads one run's stream, for a web backend to hand its page. */
export interface StreamTokens {
  mint(tenant: string, runId: string): Promise<{ token: string; expiresAt: number }>;
}

const SSE_KEEPALIVE_MS = 15_000;

/** WebSocket close codes: 1000 normal end, 1001 gateway going away, 1013 try again later (too slow). */
const WS_CLOSE: Record<Exclude<CloseReason, 'client'>, [number, string]> = {
  end: [1000, 'end of stream'],
  shutdown: [1001, 'gateway shutting down'],
  slow: [1013, 'subscriber too slow: its buffer is full'],
};

/** 1003: the endpoint cannot accept the data it received; a stream subscriber is sent messages but sends none. */
const WS_CLOSE_UNSUPPORTED: [number, string] = [1003, 'a stream subscriber sends no messages'];

function resolveFrom(query: StreamQuery, lastEventId: string | string[] | undefined): StreamFrom {
  if (query.from === 'start') {
    if (query.after !== undefined) throw new ChuteError('BAD_REQUEST', 'from and after: give one or the other');
    // A browser's EventSource reconnects to the same URL with Last-Event-ID: it resumes after
    // what it had, rather than being replayed the stream from its start again.
    if (typeof lastEventId !== 'string') return { kind: 'start' };
  }
  const token = query.after ?? (typeof lastEventId === 'string' ? lastEventId : undefined);
  if (token === undefined) return { kind: 'now' };
  const position = parsePosition(token);
  if (!position) {
    const field = query.after !== undefined ? 'after' : 'Last-Event-ID';
    throw new ChuteError('BAD_REQUEST', `${field}: must be a chunk position such as 12, or 2:12 for attempt 2, got "${token}"`);
  }
  return { kind: 'after', position };
}

type ChunkItem = Extract<StreamItem, { type: 'chunk' }>;

/**
 * Encodes an item once, however many subscribers it goes to: the hub hands
 * every subscriber of a run the same item object in one loop, so remembering
 * the last item a transport encoded builds a chunk's bytes once per transport,
 * not once per socket.
 */
function encodedOnce<T extends StreamItem>(encode: (item: T) => Buffer): (item: T) => Buffer {
  let last: T | undefined;
  let bytes: Buffer = Buffer.alloc(0);
  return (item) => {
    if (item !== last) {
      bytes = encode(item);
      last = item;
    }
    return bytes;
  };
}

/** A chunk as WebSocket and SSE both carry it (the schema's message); `encoding` only for bytes (JSON leaves undefined out). */
const chunkBody = (item: ChunkItem): Omit<StreamChunkMessage, 'type'> => ({
  seq: item.seq,
  attempt: item.attempt,
  data: item.data,
  encoding: item.encoding === 'base64' ? ('base64' as const) : undefined,
});

/** One message of the stream's wire schema (stream.schema.json), as JSON text. */
const wire = (message: StreamMessage): Buffer => Buffer.from(JSON.stringify(message));

/** What the WebSocket carries for one item. */
const wsMessage = encodedOnce((item: StreamItem) => {
  switch (item.type) {
    case 'chunk':
      return wire({ type: 'chunk', ...chunkBody(item) });
    case 'attempt':
      return wire({ type: 'attempt', attempt: item.attempt });
    case 'end':
      return wire({ type: 'end', status: item.status });
    default: {
      const _exhaustive: never = item;
      return _exhaustive;
    }
  }
});

const sseFrame = encodedOnce((item: StreamItem) => {
  switch (item.type) {
    case 'chunk':
      return Buffer.from(`id: ${formatPosition(item)}\nevent: chunk\ndata: ${JSON.stringify(chunkBody(item))}\n\n`);
    case 'attempt':
      return Buffer.from(`event: attempt\ndata: ${JSON.stringify({ attempt: item.attempt })}\n\n`);
    case 'end':
      return Buffer.from(`event: end\ndata: ${JSON.stringify({ status: item.status })}\n\n`);
    default: {
      const _exhaustive: never = item;
      return _exhaustive;
    }
  }
});

/** A chunk's bytes, for the plain-text transport (an end writes nothing: the response just ends). */
const textBytes = encodedOnce((item: ChunkItem) => Buffer.from(item.data, item.encoding));

interface StreamContext {
  subscriber: StreamSubscriber;
  createdAt: number;
  finalStatus: FinalStatus | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    chuteStream?: StreamContext;
  }
}

/**
 * GET /api/v1/runs/:id/stream: the run's stream as chunked text/plain, as SSE
 * (Accept: text/event-stream), or over a WebSocket upgrade.
 */
export function registerStreamApi(fastify: FastifyInstance, deps: StreamApiDeps): void {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const grace = deps.unknownRunGraceMs ?? 3000;

  /** The run's creation time and final status; waits a moment for a run triggered a moment ago. */
  async function lookup(runId: string, tenant: string): Promise<{ createdAt: number; finalStatus: FinalStatus | undefined } | undefined> {
    const deadline = Date.now() + grace;
    for (;;) {
      const state = await deps.currentState(runId, tenant);
      if (state) return { createdAt: state.createdAt, finalStatus: isFinal(state.status) ? state.status : undefined };
      if (Date.now() > deadline) return undefined;
      await sleep(25);
    }
  }

  /** Starts the replay (if asked) and ends an already-ended run, once a transport is attached. */
  const begin = (request: FastifyRequest): void => {
    const ctx = request.chuteStream!;
    deps.hub.begin(ctx.subscriber, ctx.finalStatus, ctx.createdAt).catch(() => ctx.subscriber.close('shutdown'));
  };

  app.post(
    '/api/v1/runs/:id/stream-token',
    {
      config: { auth: { scope: 'runs:read' } },
      schema: {
        summary: "A short-lived token that reads this run's stream only, as ?token= (for a browser's EventSource or WebSocket)",
        tags: ['streams'],
        params: RunIdParams,
        response: { 201: StreamTokenResponse, 400: ApiError, 401: ApiError, 403: ApiError, 404: ApiError, 409: ApiError, 413: ApiError, 415: ApiError },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (!deps.streamTokens) throw new ChuteError('CONFLICT', 'auth is off on this gateway: streams need no token');
      if (!(await lookup(id, request.principal.tenant))) throw new ChuteError('RUN_NOT_FOUND', `no run ${id}`);
      const { token, expiresAt } = await deps.streamTokens.mint(request.principal.tenant, id);
      return reply.status(201).send({ token, expiresAt: new Date(expiresAt).toISOString() });
    },
  );

  app.route({
    method: 'GET',
    url: '/api/v1/runs/:id/stream',
    config: { auth: { scope: 'stream:read', streamToken: true } },
    schema: {
      summary: "Stream a run's chunks as they are produced: text/plain, SSE (Accept: text/event-stream) or WebSocket",
      tags: ['streams'],
      params: RunIdParams,
      querystring: StreamQuery,
      response: {
        200: {
          description: 'The chunks as they come: text/plain, text/event-stream (events chunk, attempt, end) or WebSocket messages (schemas/json/stream.schema.json)',
          content: { 'text/plain': { schema: z.string() }, 'text/event-stream': { schema: z.string() } },
        },
        400: ApiError,
        401: ApiError,
        403: ApiError,
        404: ApiError,
      },
    },
    // Subscribe before anything else, so nothing appended from the request on is missed;
    // answer 404 here, while the request can still be refused with a status.
    preHandler: async (request) => {
      const { id } = request.params as { id: string };
      const from = resolveFrom(request.query as StreamQuery, request.headers['last-event-id']);
      const subscriber = await deps.hub.subscribe(id, from);
      const run = await lookup(id, request.principal.tenant).catch((error: unknown) => {
        subscriber.close('shutdown');
        throw error;
      });
      if (!run) {
        subscriber.close('client');
        throw new ChuteError('RUN_NOT_FOUND', `no run ${id}`);
      }
      request.chuteStream = { subscriber, ...run };
    },
    handler: async (request, reply) => {
      const { subscriber } = request.chuteStream!;
      const sse = (request.headers.accept ?? '').includes('text/event-stream');
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        // Headers hooks set (CORS) go out too: a hijacked reply writes its own.
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': sse ? 'text/event-stream; charset=utf-8' : 'text/plain; charset=utf-8',
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        'x-accel-buffering': 'no',
        connection: 'keep-alive',
      });
      res.flushHeaders();
      // Proxies drop idle connections: an SSE comment now and then keeps it open.
      const keepalive = sse ? setInterval(() => res.write(': keepalive\n\n'), SSE_KEEPALIVE_MS) : undefined;
      const sink: Sink = {
        write: (item) => {
          if (sse) res.write(sseFrame(item));
          else if (item.type === 'chunk') res.write(textBytes(item));
        },
        bufferedBytes: () => res.writableLength,
        close: (reason) => {
          clearInterval(keepalive);
          // A slow reader gets its response aborted, not a clean end it could mistake for the run's.
          if (reason === 'slow') res.destroy();
          else res.end();
        },
      };
      res.on('close', () => {
        clearInterval(keepalive);
        subscriber.close('client');
      });
      subscriber.attach(sink);
      begin(request);
    },
    wsHandler: (socket: WebSocket, request) => {
      const { subscriber } = request.chuteStream!;
      socket.on('close', () => subscriber.close('client'));
      // The stream goes one way: a subscriber that sends a message (text or binary) is not one of ours.
      socket.on('message', () => {
        subscriber.close('client');
        socket.close(...WS_CLOSE_UNSUPPORTED);
      });
      subscriber.attach({
        // binary: false - the frame is JSON text, sent from the shared encoded bytes.
        write: (item) => socket.send(wsMessage(item), { binary: false }),
        bufferedBytes: () => socket.bufferedAmount,
        close: (reason) => {
          if (reason !== 'client') socket.close(...WS_CLOSE[reason]);
        },
      });
      begin(request);
    },
  });
}
