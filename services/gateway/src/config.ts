import { z } from 'zod';
import { DatabaseEnv, LogEnv, Port } from '@chute/runtime';

export const GatewayEnv = LogEnv.extend(DatabaseEnv.shape).extend({
  /** Interface to listen on; set 0.0.0.0 in a container. @default 127.0.0.1 */
  CHUTE_GATEWAY_HOST: z.string().min(1).default('127.0.0.1'),
  /** @default 8080 */
  CHUTE_GATEWAY_PORT: Port.default(8080),
  /** Bytes held for one stream subscriber that does not read before it is closed. @default 4 MiB */
  CHUTE_STREAM_BUFFER_BYTES: z.coerce.number().int().min(64 * 1024).default(4 * 1024 * 1024),
});
export type GatewayConfig = z.infer<typeof GatewayEnv>;
