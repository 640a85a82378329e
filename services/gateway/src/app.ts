import { STATUS_CODES } from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { ChuteError, type Logger, type Metrics } from '@chute/runtime';
import { ApiError, exceedsJsonDepth, MAX_JSON_DEPTH } from '@chute/schemas';
import { registerAuth, type GatewayAuthOptions } from './auth';
import { registerRunsApi, type RunsApiDeps } from './runs/runs-api';
import { registerStreamApi, type StreamApiDeps } from './streams/stream-api';
import { registerWorkersApi } from './workers/workers-api';
import { registerDashboard } from './dashboard';
import { WORKER_MAX_FRAME_BYTES, type WorkerConnections } from './workers/worker-protocol';

export interface GatewayDeps extends RunsApiDeps, Omit<StreamApiDeps, 'currentState'> {
  logger: Logger;
  metrics: Metrics;
  /** Resolves when the log and the database both answer; rejects naming the one that does not. */
  checkReady(): Promise<void>;
  /** Workers connecting over the worker protocol. */
  workers: WorkerConnections;
  auth: GatewayAuthOptions;
  /** Origins a browser may call the gateway from (CORS); none allows no cross-origin call. */
  corsOrigins: readonly string[];
}

/** Request bodies past this are refused with 413 before they are parsed. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Guards against slow clients (slowloris): a request's headers must arrive
 * within this long of its first byte, or the client gets 408 and its socket is
 * closed. Node's default is 60 s, checked only every 30 s.
 */
export const HEADERS_TIMEOUT_MS = 10_000;

/**
 * The whole request, body included (at most {@link BODY_LIMIT_BYTES}), must
 * arrive within this long, or 408. Fastify turns Node's limit off by default,
 * so a body trickled in byte by byte could hold its socket indefinitely. It bounds the
 * request only: a stream's response lasts as long as its run.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

/** How often Node looks for requests past those timeouts (its default, 30 s, would let one overrun by that much). */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/** How a path parameter is named in error messages. */
const PARAM_LABELS: Record<string, string> = { id: 'run id', name: 'task name' };

/** Maps schema validation failures and fastify's own errors (bad JSON, oversized body...) onto the platform's codes. */
function toChuteError(error: FastifyError): ChuteError {
  if (error instanceof ChuteError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issue = error.validation[0]!;
    const path = issue.instancePath.replace(/^\//, '').replace(/\//g, '.');
    if (error.validationContext === 'params') {
      const label = PARAM_LABELS[path] ?? path;
      return new ChuteError(path === 'id' ? 'INVALID_RUN_ID' : 'BAD_REQUEST', `${label}: ${issue.message}`);
    }
    return new ChuteError('BAD_REQUEST', `${path || (error.validationContext ?? 'request')}: ${issue.message}`);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ChuteError('INVALID_JSON', `request body is not valid JSON: ${error.message}`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ChuteError('PAYLOAD_TOO_LARGE', `request body exceeds ${BODY_LIMIT_BYTES} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ChuteError('UNSUPPORTED_MEDIA_TYPE', `unsupported content type; send application/json`);
    default:
      if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
        return new ChuteError('BAD_REQUEST', error.message);
      }
      return new ChuteError('INTERNAL', 'internal error');
  }
}

/** What Node's HTTP parser refused, as the platform's error (the codes are Node's and llhttp's). */
function clientErrorOf(error: NodeJS.ErrnoException): ChuteError {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ChuteError('REQUEST_TIMEOUT', `the request did not arrive in time (headers within ${HEADERS_TIMEOUT_MS / 1000} s, the whole request within ${REQUEST_TIMEOUT_MS / 1000} s)`);
    case 'HPE_HEADER_OVERFLOW':
      return new ChuteError('HEADERS_TOO_LARGE', 'request headers exceed 16 KiB');
    default:
      return new ChuteError('BAD_REQUEST', 'not a valid HTTP request');
  }
}

/** The gateway's HTTP app, not yet listening: tests use `inject` or a real socket alike. */
export function buildGateway(deps: GatewayDeps): FastifyInstance {
  // No idle-socket timeout (fastify's connectionTimeout): a stream may stay quiet for as long as its task does.
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT_BYTES,
    requestTimeout: REQUEST_TIMEOUT_MS,
    http: { headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS },
    // Requests Node refuses before any route sees them (too slow, headers too large, not HTTP) get the platform's JSON errors too.
    clientErrorHandler: (error, socket) => {
      if (!socket.writable) return socket.destroy();
      const chute = clientErrorOf(error as NodeJS.ErrnoException);
      const body = JSON.stringify(chute.toJSON());
      socket.end(
        `HTTP/1.1 ${chute.status} ${STATUS_CODES[chute.status] ?? ''}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    },
  });
  // JSON bodies are parsed here, not by fastify's parser, to refuse a body nested
  // too deep to validate before anything walks it recursively.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(new ChuteError('INVALID_JSON', 'request body is empty; send a JSON object, or no content-type'), undefined);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return done(new ChuteError('INVALID_JSON', `request body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`), undefined);
    }
    if (exceedsJsonDepth(value)) return done(new ChuteError('BAD_REQUEST', `request body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
    done(null, value);
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // The OpenAPI document is generated from the routes' zod schemas: /docs/json, UI at /docs.
  void app.register(swagger, {
    openapi: {
      info: { title: 'Chute gateway', version: '1.0.0', description: 'Trigger runs, read them, wait for their results.' },
      // Every operation needs a bearer token unless its route says `security: []` (the probes).
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearerAuth: [] }],
    },
    transform: jsonSchemaTransform,
    // Schemas registered by id (JSON values, which are recursive) go to components, where the routes' $refs point.
    transformObject: jsonSchemaTransformObject,
  });
  void app.register(swaggerUi, { routePrefix: '/docs' });
  // Stream subscribers send nothing; workers send chunks of up to 1 MiB, base64 in JSON.
  void app.register(websocket, {
    options: { maxPayload: WORKER_MAX_FRAME_BYTES },
    errorHandler: (error, socket, request) => {
      // On a frame it refuses (too big 1009, bad UTF-8 1007, not a frame 1002) ws has already sent
      // its close frame and waits for the client's; it drops the socket itself after 30 s. The
      // plugin's default, terminating here, destroyed the socket under the frame: the client saw 1006.
      if (socket.readyState !== socket.OPEN) return;
      deps.logger.error('websocket handler failed', { url: request.url.split('?')[0], err: error });
      socket.terminate();
    },
  });
  if (deps.corsOrigins.length > 0) void app.register(cors, { origin: [...deps.corsOrigins], methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type', 'last-event-id'] });
  // Limits only where a route asks (triggers), per token: after auth, so the principal is known.
  void app.register(rateLimit, {
    global: false,
    hook: 'preHandler',
    keyGenerator: (request) => `${request.principal.tenant}/${request.principal.tokenId}`,
    errorResponseBuilder: (_request, context) => new ChuteError('RATE_LIMITED', `more than ${context.max} requests in ${context.after}; retry after the Retry-After header's seconds`),
  });
  registerAuth(app, deps.auth);
  const requests = deps.metrics.counter('chute_gateway_http_requests_total', 'HTTP requests by route and status.');

  app.addHook('onResponse', async (request, reply) => {
    requests.inc({ route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) });
  });

  app.setErrorHandler<FastifyError>(async (error, request, reply) => {
    const chute = toChuteError(error);
    if (chute.status >= 500) deps.logger.error('request failed', { method: request.method, url: request.url, err: error });
    return reply.status(chute.status).send(chute.toJSON());
  });

  app.setNotFoundHandler(async (request, reply) => {
    const error = new ChuteError('NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`);
    return reply.status(404).send(error.toJSON());
  });

  // Every method each path answers, to tell "no such route" (404) from "not with this method" (405).
  const methodsOf = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) (methodsOf.get(route.url) ?? methodsOf.set(route.url, new Set()).get(route.url)!).add(method);
  });

  // Routes go in a plugin registered after swagger, so its route hook sees them.
  void app.register(async (instance) => {
    const runs = registerRunsApi(instance, deps);
    registerStreamApi(instance, { ...deps, currentState: runs.currentState });
    registerWorkersApi(instance, deps);
    registerDashboard(instance);
    instance.get('/api/v1/workers/connect', { websocket: true, config: { auth: { scope: 'workers' } }, schema: { hide: true } }, (socket, request) =>
      deps.workers.accept(socket, request.principal),
    );
    registerProbes(instance, deps, deps.auth.publicPrefixes.includes('/metrics'));
  });

  // After the API's routes: each of their paths answers every other method fastify knows with 405 and Allow.
  void app.register(async (instance) => {
    for (const [url, methods] of [...methodsOf]) {
      if (!url.startsWith('/api/') && !PROBE_PATHS.includes(url)) continue;
      const allow = [...methods].filter((m) => m !== 'HEAD').sort().join(', ');
      // HEAD stays with fastify (it answers HEAD where there is a GET); OPTIONS stays with CORS when it is on.
      const missing = app.supportedMethods.filter((m) => !methods.has(m) && m !== 'HEAD' && !(m === 'OPTIONS' && deps.corsOrigins.length > 0));
      if (missing.length === 0) continue;
      const refuse = async (request: FastifyRequest, reply: FastifyReply): Promise<never> => {
        reply.header('allow', allow);
        throw new ChuteError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${url}; allowed: ${allow}`);
      };
      instance.route({
        method: missing,
        url,
        config: { auth: { public: true } },
        schema: { hide: true },
        // Refused on arrival, before fastify looks at a body: it would answer QUERY without a Content-Type with 400.
        onRequest: refuse,
        handler: refuse,
      });
    }
  });

  return app;
}

/** Paths outside /api/ that the document describes, so they too answer a method they lack with 405. */
const PROBE_PATHS = ['/healthz', '/readyz', '/metrics'];

/** /healthz and /readyz (no token), and /metrics (a token unless CHUTE_METRICS_PUBLIC). */
function registerProbes(instance: FastifyInstance, deps: Pick<GatewayDeps, 'checkReady' | 'metrics'>, metricsPublic: boolean): void {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  app.get(
    '/healthz',
    { config: { auth: { public: true } }, schema: { summary: 'Liveness: the process serves HTTP', tags: ['probes'], security: [], response: { 200: z.object({ status: z.literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { auth: { public: true } },
      schema: {
        summary: 'Readiness: the log and the database both answer',
        tags: ['probes'],
        security: [],
        response: { 200: z.object({ status: z.literal('ready') }), 503: ApiError },
      },
    },
    async (_request, reply) => {
      try {
        await deps.checkReady();
        return { status: 'ready' as const };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return reply.status(503).send(new ChuteError('UNAVAILABLE', `not ready: ${message}`).toJSON());
      }
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (text exposition format)',
        tags: ['probes'],
        ...(metricsPublic ? { security: [] } : {}),
        response: {
          200: { description: 'The metrics', content: { 'text/plain': { schema: z.string() } } },
          401: ApiError,
          403: ApiError,
        },
      },
    },
    async (_request, reply) => reply.type('text/plain; version=0.0.4').send(deps.metrics.render()),
  );
}
