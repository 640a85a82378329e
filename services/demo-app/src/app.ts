import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Chute } from '@chute/sdk';
import { page } from './page';

/**
 * The seed's "Streaming to a Web Application": a web backend that triggers
 * `stream-example` and proxies its stream to browsers and curl.
 */
export function buildDemoApp(chute: Chute): FastifyInstance {
  const app = Fastify({ logger: false });
  const streamingTask = chute.task({ name: 'stream-example', fn: () => undefined });

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page));

  // `curl -N http://localhost:8000/stream` prints the text as it is produced.
  app.get('/stream', async (_request, reply) => {
    const ref = await streamingTask.runNoWait({});
    const stream = Readable.from(chute.runs.subscribeToStream(await ref.getWorkflowRunId()));
    return reply
      .headers({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' })
      .send(stream);
  });

  app.post('/api/runs', async (_request, reply) => {
    const ref = await streamingTask.runNoWait({});
    return reply.status(201).send({ runId: ref.runId });
  });

  // The page's EventSource: each chunk as an SSE event, then the run's final status.
  app.get<{ Params: { id: string } }>('/api/runs/:id/events', async (request, reply) => {
    const { id } = request.params;
    async function* events(): AsyncGenerator<string> {
      for await (const chunk of chute.runs.subscribeToStream(id, { from: 'start' })) {
        yield `event: chunk\ndata: ${JSON.stringify(chunk)}\n\n`;
      }
      const run = await chute.runs.waitForEnd(id);
      yield `event: end\ndata: ${JSON.stringify({ status: run.status })}\n\n`;
    }
    return reply
      .headers({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' })
      .send(Readable.from(events()));
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  return app;
}
