import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { decideCancel, evolveRun, isFinal, runRequested, type RunState } from '@chute/domain';
import { decodeRunState, type Db, type RunRow } from '@chute/db';
import { ChuteError } from '@chute/runtime';
import {
  ApiError,
  CancelRunResponse,
  ListRunsQuery,
  type ListCursor,
  ListRunsResponse,
  ResultQuery,
  RunIdParams,
  RunView,
  TaskNameParams,
  TriggerRunBody,
  TriggerRunQuery,
  TriggerRunResponse,
  type RunEvent,
} from '@chute/schemas';
import type { RecentRuns } from './recent-runs';
import type { RunWaiters } from './run-waiters';

export interface RunsApiDeps {
  db: Db;
  /** Appends to the run-events topic (validated there too). */
  appendRunEvents(events: RunEvent[]): Promise<void>;
  /** The runs this gateway saw lately, folded from its tail of run-events. */
  recentRuns: RecentRuns;
  waiters: RunWaiters;
  /** Runs one token may trigger per minute; past it, 429 with Retry-After. */
  triggersPerMinute: number;
}

/** How long /result waits for a run it has never seen before answering 404 (the projector may lag a little). */
const UNKNOWN_RUN_GRACE_MS = 3000;

/** The errors every runs route documents (413 and 415 come from a POST's body, before the route runs). */
const errors = { 400: ApiError, 401: ApiError, 403: ApiError, 404: ApiError, 409: ApiError, 413: ApiError, 415: ApiError, 429: ApiError, 503: ApiError };

const isoOrNull = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** A run as the API shows it, from its folded state (the read model keeps it in each row). */
export function viewOf(state: RunState): RunView {
  return {
    runId: state.runId,
    task: state.task,
    status: state.status,
    input: state.input,
    output: state.output,
    error: state.error,
    attempt: state.attempt,
    retries: state.retries,
    workerId: state.workerId,
    createdAt: new Date(state.createdAt).toISOString(),
    updatedAt: new Date(state.updatedAt).toISOString(),
    startedAt: isoOrNull(state.startedAt),
    finishedAt: isoOrNull(state.finishedAt),
  };
}

export const toRunView = (row: RunRow): RunView => viewOf(decodeRunState(row.id, row.state));

/** `<created_at ms>.<id>`, the shape ListCursor's pattern admits (what ListRunsQuery validated is all decodeCursor sees). */
const encodeCursor = (row: RunRow): ListCursor => `${row.created_at.getTime()}.${row.id}`;

function decodeCursor(cursor: ListCursor): { createdAt: Date; id: string } {
  const dot = cursor.indexOf('.');
  return { createdAt: new Date(Number(cursor.slice(0, dot))), id: cursor.slice(dot + 1) };
}

/** The run, if it is this tenant's. */
const ofTenant = (state: RunState | undefined, tenant: string): RunState | undefined => (state?.tenant === tenant ? state : undefined);

/** The runs API: trigger, read, list, cancel, and wait for a result. Schemas validate input and document it. */
export function registerRunsApi(
  fastify: FastifyInstance,
  deps: RunsApiDeps,
): { currentState(runId: string, tenant: string): Promise<RunState | undefined> } {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { db } = deps;
  const findRun = (id: string) => db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
  const notFound = (id: string) => new ChuteError('RUN_NOT_FOUND', `no run ${id}`);
  /**
   * The run's state from the read model, with the events this gateway already
   * saw folded on: the projector may be a moment behind, and a client that was
   * just told its run ended must read it ended - and started, by its worker.
   */
  const currentState = async (id: string, tenant: string): Promise<RunState | undefined> => {
    const row = await findRun(id);
    // A row that does not decode throws InvalidRowError: a 500 that names the row in the log.
    const state = row ? decodeRunState(row.id, row.state) : undefined;
    // Not projected yet (the projector lingers to batch): this gateway's own fold, if it saw the request.
    if (!state) return ofTenant(deps.recentRuns.recentState(id), tenant);
    // Another tenant's run is not there at all: 404, as for a run that never was, so ids do not leak.
    if (state.tenant !== tenant) return undefined;
    if (isFinal(state.status)) return state;
    return deps.recentRuns.recentEvents(id).reduce<RunState | undefined>(evolveRun, state);
  };

  /**
   * Waits up to `timeoutMs` for the run to end: the run as it ended, or as it
   * stands at the timeout. Rejects with RUN_NOT_FOUND for a run this tenant
   * does not have.
   */
  const awaitEnd = async (id: string, tenant: string, timeoutMs: number): Promise<{ ended: boolean; view: RunView }> => {
    const deadline = Date.now() + timeoutMs;
    // Register before the first read, so an end between the two is not missed.
    const waiter = deps.waiters.wait(id, timeoutMs);
    let ending: RunEvent | undefined;
    void waiter.ended.then((event) => (ending = event));
    try {
      const started = Date.now();
      let waitedOnFold = false;
      for (;;) {
        const timeUp = Date.now() >= deadline || deps.waiters.closed;
        // A run this gateway saw requested (its own trigger at once, another
        // gateway's once the tail brings it) is answered from its fold of the log.
        const held = ofTenant(deps.recentRuns.recentState(id), tenant);
        if (held && isFinal(held.status)) return { ended: true, view: viewOf(held) };
        if (held && !timeUp && !waitedOnFold) {
          // The first wait costs no query; later ones also look at the read model,
          // which may be ahead of a lagging tail.
          waitedOnFold = true;
          await Promise.race([waiter.ended, sleep(Math.min(1000, deadline - Date.now()))]);
          continue;
        }
        // The read model, with the events the tail saw folded on (or the fold, while it has no row).
        const state = await currentState(id, tenant);
        if (state && isFinal(state.status)) return { ended: true, view: viewOf(state) };
        if (timeUp) {
          if (!state) throw notFound(id);
          return { ended: false, view: viewOf(state) };
        }
        // A run the read model has not shown for this long was most likely never triggered.
        if (!state && Date.now() - started > UNKNOWN_RUN_GRACE_MS) throw notFound(id);
        // Until the run ends, look rarely (the tail will say when); once it has, the
        // projector is a moment behind: look often.
        await (ending ? sleep(20) : Promise.race([waiter.ended, sleep(1000)]));
      }
    } finally {
      waiter.cancel();
    }
  };

  app.post(
    '/api/v1/tasks/:name/runs',
    {
      config: { auth: { scope: 'runs:write' }, rateLimit: { max: deps.triggersPerMinute, timeWindow: 60_000 } },
      schema: {
        summary: 'Trigger a run of a task',
        tags: ['runs'],
        description: 'With `waitMs`, waits for the run to end and answers with the run: 200 once it ended, 202 with its current state past the wait.',
        params: TaskNameParams,
        querystring: TriggerRunQuery,
        body: TriggerRunBody,
        response: { 201: TriggerRunResponse, 200: RunView, 202: RunView, ...errors },
      },
    },
    async (request, reply) => {
      const { waitMs } = request.query;
      // Refused before the run exists: waiting answers with the run's output, which runs:read guards.
      if (waitMs !== undefined && !request.principal.scopes.has('runs:read')) {
        throw new ChuteError('FORBIDDEN', 'waitMs answers with the run: this token lacks the runs:read scope (trigger without waitMs, or use a token with it)');
      }
      const { input, retries, executionTimeoutMs } = request.body;
      const runId = randomUUID();
      const requested = runRequested({ runId, tenant: request.principal.tenant, task: request.params.name, input, retries, executionTimeoutMs }, Date.now());
      await deps.appendRunEvents([requested]);
      // Held from now, not from when the tail brings it back: a /result that
      // follows at once then waits on the fold instead of the read model.
      const length = Number(request.headers['content-length']);
      deps.recentRuns.requested(requested, Number.isInteger(length) && length > 0 ? length : Buffer.byteLength(JSON.stringify(input)));
      if (waitMs === undefined) return reply.status(201).send({ runId });
      const { ended, view } = await awaitEnd(runId, requested.tenant, waitMs);
      return reply.status(ended ? 200 : 202).send(view);
    },
  );

  app.get(
    '/api/v1/runs/:id',
    { config: { auth: { scope: 'runs:read' } }, schema: { summary: 'Get a run', tags: ['runs'], params: RunIdParams, response: { 200: RunView, ...errors } } },
    async (request) => {
      const state = await currentState(request.params.id, request.principal.tenant);
      if (!state) throw notFound(request.params.id);
      return viewOf(state);
    },
  );

  app.get(
    '/api/v1/runs',
    {
      config: { auth: { scope: 'runs:read' } },
      schema: {
        summary: 'List runs, newest first',
        tags: ['runs'],
        querystring: ListRunsQuery,
        response: { 200: ListRunsResponse, ...errors },
      },
    },
    async (request) => {
      const query = request.query;
      let q = db
        .selectFrom('runs')
        .selectAll()
        .where('tenant', '=', request.principal.tenant)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(query.limit + 1);
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
      config: { auth: { scope: 'runs:write' } },
      schema: {
        summary: 'Cancel a run; its running task sees its abortSignal fire',
        tags: ['runs'],
        params: RunIdParams,
        response: { 202: CancelRunResponse, ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const decision = decideCancel({ runId: id, at: Date.now() }, await currentState(id, request.principal.tenant));
      switch (decision.outcome) {
        case 'unknown-run':
          throw notFound(id);
        case 'already-ended':
          throw new ChuteError('CONFLICT', `run ${id} already ended ${decision.status}`);
        case 'accepted':
          await deps.appendRunEvents([...decision.events]);
          return reply.status(202).send({ runId: id, status: decision.status });
        default: {
          const _exhaustive: never = decision;
          return _exhaustive;
        }
      }
    },
  );

  app.get(
    '/api/v1/runs/:id/result',
    {
      config: { auth: { scope: 'runs:read' } },
      schema: {
        summary: 'Wait for a run to end: 200 once it has, 202 with its current state at the timeout',
        tags: ['runs'],
        params: RunIdParams,
        querystring: ResultQuery,
        response: { 200: RunView, 202: RunView, ...errors },
      },
    },
    async (request, reply) => {
      const { ended, view } = await awaitEnd(request.params.id, request.principal.tenant, request.query.timeoutMs);
      return reply.status(ended ? 200 : 202).send(view);
    },
  );
  return { currentState };
}
