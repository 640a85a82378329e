// Writes schemas/json/*.schema.json from the zod schemas (`npm run schemas:json`).
// schemas/src/json-schema.unit.test.ts fails while a committed file is stale.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PUBLISHED_SCHEMAS, publishedJsonSchema } from '@chute/schemas';

for (const file of Object.keys(PUBLISHED_SCHEMAS) as (keyof typeof PUBLISHED_SCHEMAS)[]) {
  const path = join(__dirname, '..', 'schemas', 'json', file);
  writeFileSync(path, publishedJsonSchema(file));
  console.log(`wrote ${path}`);
}
