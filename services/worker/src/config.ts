import { z } from 'zod';
import { probeEnv } from '@chute/runtime';
import { LogEnv } from '@chute/log';
import { DEFAULT_TENANT, TenantId } from '@chute/schemas';

export const WorkerEnv = LogEnv.extend(probeEnv(8093).shape).extend({
  /** Names this worker in logs and in its id. @default 'example-worker' */
  CHUTE_WORKER_NAME: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/).default('example-worker'),
  /** Runs executed at once. @default 100 */
  CHUTE_WORKER_SLOTS: z.coerce.number().int().min(1).max(10_000).default(100),
  /** The tenant whose runs it takes. @default 'default' */
  CHUTE_WORKER_TENANT: TenantId.default(DEFAULT_TENANT),
  /** @default 5000 */
  CHUTE_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).default(5000),
});
export type WorkerConfig = z.infer<typeof WorkerEnv>;
