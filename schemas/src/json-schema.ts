import { z } from 'zod';
import { GatewayMessage, WorkerMessage } from './worker-protocol';
import { StreamMessage } from './stream-wire';

/**
 * The wire formats that SDKs in other languages implement, as JSON Schema
 * (draft 2020-12) generated from the zod schemas. They are committed under
 * `schemas/json/` so an SDK's tests can check its messages against them; a
 * unit test keeps the committed files equal to what the zod schemas give.
 */
export const PUBLISHED_SCHEMAS = {
  'worker-protocol.schema.json': {
    title: 'Chute worker protocol v1 (/api/v1/workers/connect)',
    schema: z.object({ workerMessage: WorkerMessage, gatewayMessage: GatewayMessage }),
  },
  'stream.schema.json': {
    title: 'Chute stream messages v1 (/api/v1/runs/:id/stream over WebSocket and SSE)',
    schema: z.object({ streamMessage: StreamMessage }),
  },
} as const;

/** One published document: each message union under `$defs`, by name. */
export function publishedJsonSchema(file: keyof typeof PUBLISHED_SCHEMAS): string {
  const { title, schema } = PUBLISHED_SCHEMAS[file];
  // Input shapes: what a sender may omit (fields with defaults) stays optional.
  const generated = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as {
    properties: Record<string, unknown>;
    $defs?: Record<string, unknown>;
  };
  const document = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `https://chute.dev/schemas/v1/${file}`,
    title,
    // Recursive parts (JSON values) are generated as `$defs` the messages refer to: keep them beside.
    $defs: { ...generated.properties, ...generated.$defs },
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}
