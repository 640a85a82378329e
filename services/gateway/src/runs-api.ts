import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { isFinal } from '@chute/domain';
import type { Db, RunRow } from '@chute/db';
import { ChuteError } from '@chute/runtime';
import {
  ApiError,
  CancelRunResponse,
  ListRunsQuery,
  ListRunsResponse,
  ResultQuery,
  RunIdParams,
  RunView,
  TaskNameParams,
  TriggerRunBody,
  TriggerRunResponse,
  type RunEvent,
} from '@chute/schemas';
import type { RunWaiters } from './run-waiters';

export interface RunsApiDeps {
  db: Db;
  /** Appends to the run-events topic (validated there too). */
  appendRunEvents(events: RunEvent[]): Promise<void>;
  waiters: RunWaiters;
}

/** How long /result waits for a run it has never seen before answering 404 (the projector may lag a little). */
const UNKNOWN_RUN_GRACE_MS = 3000;

const errors = { 400: ApiError, 404: ApiError, 409: ApiError, 413: ApiError, 503: ApiError };

export function toRunView(row: RunRow): RunView {
  return {
    runId: row.id,
    task: row.task,
    status: row.status,
    input: row.input,
    output: row.output ?? null,
    error: row.error ?? null,
    attempt: row.attempt,
    retries: row.max_retries,
    workerId: row.worker_id,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    startedAt: row.started_at?.toISOString() ?? null,
    finishedAt: row.finished_at?.toISOString() ?? null,
  };
}

function encodeCursor(row: RunRow): string {
  return Buffer.from(`${row.created_at.toISOString()}|${row.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [time, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(time ?? '');
  if (!id || Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new ChuteError('BAD_REQUEST', 'cursor: not a cursor this API returned; pass nextCursor from the previous page');
  }
  return { createdAt, id };
}

/** The runs API: trigger, read, list, cancel, and wait for a result. Schemas validate input and document it. */
export function registerRunsApi(fastify: FastifyInstance, deps: RunsApiDeps): void {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { db } = deps;
  const findRun = (id: string) => db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
  const notFound = (id: string) => new ChuteError('RUN_NOT_FOUND', `no run ${id}`);

  app.post(
    '/api/v1/tasks/:name/runs',
    {
      schema: {
        summary: 'Trigger a run of a task',
        tags: ['runs'],
        params: TaskNameParams,
        body: TriggerRunBody,
        response: { 201: TriggerRunResponse, ...errors },
      },
    },
    async (request, reply) => {
      const { input, retries, executionTimeoutMs } = request.body;
      const runId = randomUUID();
      await deps.appendRunEvents([
        { v: 1, type: 'RunRequested', runId, at: Date.now(), task: request.params.name, input, retries, executionTimeoutMs },
      ]);
      return reply.status(201).send({ runId });
    },
  );

  app.get(
    '/api/v1/runs/:id',
    { schema: { summary: 'Get a run', tags: ['runs'], params: RunIdParams, response: { 200: RunView, ...errors } } },
    async (request) => {
      const row = await findRun(request.params.id);
      if (!row) throw notFound(request.params.id);
      return toRunView(row);
    },
  );

  app.get(
    '/api/v1/runs',
    {
      schema: {
        summary: 'List runs, newest first',
        tags: ['runs'],
        querystring: ListRunsQuery,
        response: { 200: ListRunsResponse, ...errors },
      },
    },
    async (request) => {
      const query = request.query;
      let q = db.selectFrom('runs').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(query.limit + 1);
      if (query.task) q = q.where('task', '=', query.task);
      if (query.status) q = q.where('status', '=', query.status);
      if (query.cursor) {
        const { createdAt, id } = decodeCursor(query.cursor);
        q = q.where((eb) => eb.or([eb('created_at', '<', createdAt), eb.and([eb('created_at', '=', createdAt), eb('id', '<', id)])]));
      }
      const rows = await q.execute();
      const page = rows.slice(0, query.limit);
      return {
        runs: page.map(toRunView),
        nextCursor: rows.length > query.limit ? encodeCursor(page[page.length - 1]!) : null,
      };
    },
  );

  app.post(
    '/api/v1/runs/:id/cancel',
    {
      schema: {
        summary: 'Cancel a run; its running task sees its abortSignal fire',
        tags: ['runs'],
        params: RunIdParams,
        response: { 202: CancelRunResponse, ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const row = await findRun(id);
      if (!row) throw notFound(id);
      if (isFinal(row.status)) throw new ChuteError('CONFLICT', `run ${id} already ended ${row.status}`);
      await deps.appendRunEvents([{ v: 1, type: 'RunCancelRequested', runId: id, at: Date.now() }]);
      return reply.status(202).send({ runId: id, status: row.status });
    },
  );

  app.get(
    '/api/v1/runs/:id/result',
    {
      schema: {
        summary: 'Wait for a run to end: 200 once it has, 202 with its current state at the timeout',
        tags: ['runs'],
        params: RunIdParams,
        querystring: ResultQuery,
        response: { 200: RunView, 202: RunView, ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const deadline = Date.now() + request.query.timeoutMs;
      // Register before the first read, so an end between the two is not missed.
      const waiter = deps.waiters.wait(id, request.query.timeoutMs);
      let ended = false;
      void waiter.ended.then((e) => (ended = e));
      try {
        const started = Date.now();
        let row = await findRun(id);
        while (!(row && isFinal(row.status)) && Date.now() < deadline && !deps.waiters.closed) {
          // A run the read model has not shown for this long was most likely never triggered.
          if (!row && Date.now() - started > UNKNOWN_RUN_GRACE_MS) break;
          // Until the tail sees the end, look rarely (in case it ended before we listened);
          // after, the projector is a moment behind: look often.
          await Promise.race([waiter.ended, sleep(ended ? 20 : 1000)]);
          if (ended) await sleep(10);
          row = await findRun(id);
        }
        if (!row) throw notFound(id);
        return reply.status(isFinal(row.status) ? 200 : 202).send(toRunView(row));
      } finally {
        waiter.cancel();
      }
    },
  );
}
