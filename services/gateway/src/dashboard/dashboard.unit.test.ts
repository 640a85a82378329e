import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Script } from 'node:vm';
import Fastify from 'fastify';
import type { ApiError, ListRunsResponse, ListWorkersResponse, RunView, StreamAttemptMessage, StreamChunkMessage, StreamEndMessage, StreamTokenResponse, TriggerRunResponse, WorkerView } from '@chute/schemas';
import type * as Page from './browser/api-types';
import { DASHBOARD_HTML } from './html';
import { registerDashboard } from './index';

/**
 * The browser code types the API's answers itself (see browser/api-types.ts):
 * each pair fails to compile once the API's type no longer fits the page's.
 */
type Fits<PageType, ApiType extends PageType> = [PageType, ApiType];
type PageReadsTheApi = [
  Fits<Page.ApiErrorBody, ApiError>,
  Fits<Page.Run, RunView>,
  Fits<Page.RunList, ListRunsResponse>,
  Fits<Page.Worker, WorkerView>,
  Fits<Page.WorkerList, ListWorkersResponse>,
  Fits<Page.TriggeredRun, TriggerRunResponse>,
  Fits<Page.StreamToken, StreamTokenResponse>,
  // An SSE event's name is the message's type; its data is the rest.
  Fits<Page.StreamChunk, Omit<StreamChunkMessage, 'type'>>,
  Fits<Page.StreamAttempt, Omit<StreamAttemptMessage, 'type'>>,
  Fits<Page.StreamEnd, Omit<StreamEndMessage, 'type'>>,
];

describe('dashboard', () => {
  test('serves browser/dashboard.ts compiled: one strict classic script that keeps its names to itself, same-origin only', async () => {
    const app = Fastify();
    registerDashboard(app);
    const response = await app.inject({ method: 'GET', url: '/dashboard/app.js' });
    await app.close();

    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/javascript/);
    assert.match(String(response.headers['content-security-policy']), /script-src 'self'/);
    const script = response.body;
    assert.doesNotThrow(() => new Script(script, { filename: 'app.js' }), 'parses as a classic script: no TypeScript, no import left');
    assert.match(script, /^"use strict";\n\(\(\) => \{\n {2}\/\/ browser\/dashboard\.ts\n/);
    assert.match(script, /\}\)\(\);\n$/);
  });

  test('every element the script looks up is on the page (a missing one stops the script at load)', async () => {
    const app = Fastify();
    registerDashboard(app);
    const script = (await app.inject({ method: 'GET', url: '/dashboard/app.js' })).body;
    await app.close();

    const ids = [...script.matchAll(/\bbyId\("([^"]+)"/g)].map((match) => match[1]!);
    assert.ok(ids.length >= 20, `found ${ids.length} look-ups`);
    for (const id of ids) assert.ok(DASHBOARD_HTML.includes(` id="${id}"`), `#${id} is not in html.ts`);
  });
});
