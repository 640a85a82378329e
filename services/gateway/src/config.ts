import { z } from 'zod';
import { DatabaseEnv, LogEnv, Port } from '@chute/runtime';

export const GatewayEnv = LogEnv.extend(DatabaseEnv.shape).extend({
  /** Interface to listen on; set 0.0.0.0 in a container. @default 127.0.0.1 */
  CHUTE_GATEWAY_HOST: z.string().min(1).default('127.0.0.1'),
  /** @default 8080 */
  CHUTE_GATEWAY_PORT: Port.default(8080),
  /** Bytes held for one stream subscriber that does not read before it is closed. @default 4 MiB */
  /** How often workers connected over the worker protocol heartbeat; keep it well under the schedulers' CHUTE_HEARTBEAT_TIMEOUT_MS. @default 5000 */
  CHUTE_WORKER_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
  CHUTE_STREAM_BUFFER_BYTES: z.coerce.number().int().min(64 * 1024).default(4 * 1024 * 1024),
});
export type GatewayConfig = z.infer<typeof GatewayEnv>;
