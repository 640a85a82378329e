import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PUBLISHED_SCHEMAS, publishedJsonSchema } from './json-schema';

for (const file of Object.keys(PUBLISHED_SCHEMAS) as (keyof typeof PUBLISHED_SCHEMAS)[]) {
  test(`schemas/json/${file} is what the zod schemas give (run npm run schemas:json after changing them)`, () => {
    const committed = readFileSync(join(__dirname, '..', 'json', file), 'utf8');
    assert.equal(committed, publishedJsonSchema(file));
  });
}
