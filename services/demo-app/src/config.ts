import { z } from 'zod';
import { Port } from '@chute/runtime';

export const DemoEnv = z.object({
  /** The Chute gateway the demo talks to. @default http://127.0.0.1:8080 */
  CHUTE_GATEWAY_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL such as http://127.0.0.1:8080' }).default('http://127.0.0.1:8080'),
  /** The demo's own token: runs:write, runs:read and stream:read of the tenant whose workers serve stream-example. */
  CHUTE_TOKEN: z.string().optional(),
  /** Where browsers reach the gateway (the page reads the stream from it directly). @default CHUTE_GATEWAY_URL */
  CHUTE_DEMO_PUBLIC_GATEWAY_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
  /** @default 127.0.0.1 */
  CHUTE_DEMO_HOST: z.string().min(1).default('127.0.0.1'),
  /** The seed's examples serve on 8000. @default 8000 */
  CHUTE_DEMO_PORT: Port.default(8000),
});
export type DemoConfig = z.infer<typeof DemoEnv>;
