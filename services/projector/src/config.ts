import { z } from 'zod';
import { DatabaseEnv, probeEnv } from '@chute/runtime';
import { LogEnv } from '@chute/log';

export const ProjectorEnv = LogEnv.extend(DatabaseEnv.shape).extend(probeEnv(8092).shape).extend({
  /** The consumer group; a new name rebuilds the read model from offset 0. @default '<prefix>.projector' */
  CHUTE_PROJECTOR_GROUP: z.string().min(1).max(200).optional(),
  /**
   * How long the broker may hold a fetch to gather a larger batch: the read
   * model may lag this much more, and writes one transaction per batch instead
   * of one per few events. 0 projects each record as soon as it is there.
   */
  CHUTE_PROJECTOR_LINGER_MS: z.coerce.number().int().min(0).max(5000).default(50),
});
export type ProjectorConfig = z.infer<typeof ProjectorEnv>;
