import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { GatewayUnreachableError, type Chute } from '@chute/sdk';
import { page } from './page';

export interface DemoOptions {
  /** Where browsers reach the gateway. */
  publicGatewayUrl: string;
}

/**
 * The seed's "Streaming to a Web Application": a web backend that triggers
 * `stream-example` and proxies its stream to curl, and hands its page a
 * run-scoped stream token so the browser reads the stream from the gateway.
 */
export function buildDemoApp(chute: Chute, options: DemoOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  const streamingTask = chute.task({ name: 'stream-example', fn: () => undefined });

  // A gateway that does not answer is the demo's outage, not its bug: 503 saying so.
  app.setErrorHandler(async (error, _request, reply) => {
    if (error instanceof GatewayUnreachableError) {
      return reply.status(503).send({ code: 'UNAVAILABLE', message: `${error.message}: is it running? (CHUTE_GATEWAY_URL)` });
    }
    return reply.status(500).send({ code: 'INTERNAL', message: 'internal error' });
  });

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page));

  // `curl -N http://localhost:8000/stream` prints the text as it is produced.
  app.get('/stream', async (_request, reply) => {
    const ref = await streamingTask.runNoWait({});
    const stream = Readable.from(chute.runs.subscribeToStream(await ref.getWorkflowRunId()));
    return reply
      .headers({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' })
      .send(stream);
  });

  // The page's run: triggered here, with the demo's own token, which never reaches the browser;
  // the page gets a token that reads this one run's stream, and reads it from the gateway itself.
  app.post('/api/runs', async (_request, reply) => {
    const ref = await streamingTask.runNoWait({});
    const granted = await chute.runs.streamToken(ref.runId);
    const url = new URL(`/api/v1/runs/${ref.runId}/stream`, options.publicGatewayUrl);
    url.searchParams.set('from', 'start');
    if (granted) url.searchParams.set('token', granted.token);
    return reply.status(201).send({ runId: ref.runId, streamUrl: url.toString() });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  return app;
}
