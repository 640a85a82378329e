import { z } from 'zod';
import { probeEnv } from '@chute/runtime';
import { LogEnv } from '@chute/log';

export const SchedulerEnv = LogEnv.extend(probeEnv(8091).shape).extend({
  /** A worker silent for longer is presumed dead; its runs go to other workers. @default 15000 */
  CHUTE_HEARTBEAT_TIMEOUT_MS: z.coerce.number().int().min(1000).default(15_000),
  /** How often deadlines and retry back-offs are checked. @default 100 */
  CHUTE_SCHEDULER_TICK_MS: z.coerce.number().int().min(10).default(100),
  /**
   * A partition is checkpointed once this many of its records were read since
   * its last checkpoint, so a takeover reads at most about this many records
   * besides the checkpoint. @default 5000
   */
  CHUTE_SCHEDULER_CHECKPOINT_RECORDS: z.coerce.number().int().min(1).default(5000),
  /** ...or once its last checkpoint is this old and records came since. @default 60000 */
  CHUTE_SCHEDULER_CHECKPOINT_MAX_AGE_MS: z.coerce.number().int().min(100).default(60_000),
});
export type SchedulerConfig = z.infer<typeof SchedulerEnv>;
