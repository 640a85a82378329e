import type { z } from 'zod';
import { DatabaseEnv, LogEnv } from '@chute/runtime';

export const ProjectorEnv = LogEnv.extend(DatabaseEnv.shape);
export type ProjectorConfig = z.infer<typeof ProjectorEnv>;
