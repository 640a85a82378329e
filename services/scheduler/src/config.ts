import { z } from 'zod';
import { LogEnv, probeEnv } from '@chute/runtime';

export const SchedulerEnv = LogEnv.extend(probeEnv(8091).shape).extend({
  /** A worker silent for longer is presumed dead; its runs go to other workers. @default 15000 */
  CHUTE_HEARTBEAT_TIMEOUT_MS: z.coerce.number().int().min(1000).default(15_000),
  /** How often deadlines and retry back-offs are checked. @default 100 */
  CHUTE_SCHEDULER_TICK_MS: z.coerce.number().int().min(10).default(100),
});
export type SchedulerConfig = z.infer<typeof SchedulerEnv>;
