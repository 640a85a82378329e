import { z } from 'zod';
import { DatabaseEnv, LogEnv } from '@chute/runtime';

export const ProjectorEnv = LogEnv.extend(DatabaseEnv.shape).extend({
  /** The consumer group; a new name rebuilds the read model from offset 0. @default '<prefix>.projector' */
  CHUTE_PROJECTOR_GROUP: z.string().min(1).max(200).optional(),
});
export type ProjectorConfig = z.infer<typeof ProjectorEnv>;
