import type { z } from 'zod';
import { LogEnv } from '@chute/runtime';

export const WorkerEnv = LogEnv;
export type WorkerConfig = z.infer<typeof WorkerEnv>;
