// What the end-to-end suites do to a gateway over its public API, written once.
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { StreamMessage, type RunView } from '@chute/schemas';

/** What a trigger may set besides the input. */
export interface TriggerOptions {
  /** @default 0: a test's run has one attempt unless it asks for more */
  retries?: number;
  /** @default 60000 */
  executionTimeoutMs?: number;
  /** A bearer token, for a gateway that runs with auth. */
  token?: string;
}

const auth = (token: string | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

/** Triggers a run of `task` and returns its id; anything but 201 fails the test. */
export async function triggerRun(gateway: string, task: string, input: unknown = {}, options: TriggerOptions = {}): Promise<string> {
  const { token, retries = 0, executionTimeoutMs = 60_000 } = options;
  const response = await fetch(`${gateway}/api/v1/tasks/${task}/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth(token) },
    body: JSON.stringify({ input, retries, executionTimeoutMs }),
  });
  assert.equal(response.status, 201, `trigger ${task}: ${response.status} ${await response.clone().text()}`);
  return ((await response.json()) as { runId: string }).runId;
}

/** The run once it has ended, asking `/result` (202 while it runs) until `withinMs` pass. */
export async function runResult(gateway: string, runId: string, options: { token?: string; withinMs?: number } = {}): Promise<RunView> {
  const deadline = Date.now() + (options.withinMs ?? 60_000);
  for (;;) {
    const response = await fetch(`${gateway}/api/v1/runs/${runId}/result?timeoutMs=10000`, { headers: auth(options.token) });
    if (response.status === 200) return (await response.json()) as RunView;
    assert.equal(response.status, 202, `/result of ${runId}`);
    if (Date.now() > deadline) assert.fail(`run ${runId} did not end within ${(options.withinMs ?? 60_000) / 1000} s`);
  }
}

/** A run's whole stream over the gateway's WebSocket, from its start; `onFirstChunk` runs once the first chunk is in. */
export function streamText(gateway: string, runId: string, onFirstChunk: () => void = () => undefined): Promise<{ text: string; status: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${gateway.replace(/^http/, 'ws')}/api/v1/runs/${runId}/stream?from=start`);
    let text = '';
    let first = true;
    socket.on('message', (data) => {
      const message = StreamMessage.parse(JSON.parse(String(data)));
      if (message.type === 'chunk') {
        text += message.encoding === 'base64' ? Buffer.from(message.data, 'base64').toString('utf8') : message.data;
        if (first) onFirstChunk();
        first = false;
      }
      if (message.type === 'end') {
        socket.close(1000);
        resolve({ text, status: message.status });
      }
    });
    socket.on('error', reject);
  });
}
