import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Db } from '@chute/db';
import { ApiError, ListWorkersResponse } from '@chute/schemas';

const errors = { 401: ApiError, 403: ApiError };

/** GET /api/v1/workers: the caller's tenant's workers, from the read model (what the dashboard lists). */
export function registerWorkersApi(fastify: FastifyInstance, deps: { db: Db }): void {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { db } = deps;
  app.get(
    '/api/v1/workers',
    {
      config: { auth: { scope: 'runs:read' } },
      schema: {
        summary: "The tenant's workers: active first, then by last heartbeat, newest first",
        tags: ['workers'],
        response: { 200: ListWorkersResponse, ...errors },
      },
    },
    async (request) => {
      const rows = await db
        .selectFrom('workers')
        .selectAll()
        .where('tenant', '=', request.principal.tenant)
        // A worker that stopped long ago is history; the read model keeps every one that ever registered.
        .orderBy((eb) => eb.case().when('status', '=', 'ACTIVE').then(0).else(1).end())
        .orderBy('last_heartbeat_at', 'desc')
        .limit(500)
        .execute();
      return {
        workers: rows.map((row) => ({
          workerId: row.id,
          name: row.name,
          tasks: row.tasks,
          slots: row.slots,
          status: row.status,
          registeredAt: row.registered_at.toISOString(),
          lastHeartbeatAt: row.last_heartbeat_at.toISOString(),
        })),
      };
    },
  );
}
