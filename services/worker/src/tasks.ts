import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import type { Chute } from '@chute/sdk';

/** The seed's text, streamed ten characters at a time by `stream-example`. */
export const annaKarenina = `
Happy families are all alike; every unhappy family is unhappy in its own way.

Everything was in confusion in the Oblonskys' house. The wife had discovered that the husband was carrying on an intrigue with a French girl, who had been a governess in their family, and she had announced to her husband that she could not go on living in the same house with him.
`;

function* createChunks(content: string, n: number): Generator<string, void, unknown> {
  for (let i = 0; i < content.length; i += n) {
    yield content.slice(i, i + n);
  }
}

/**
 * The tasks the deployable worker hosts: the seed's `stream-example`, and small
 * tasks that show (and let tests exercise) outputs, failures, retries, timeouts
 * and cancellation.
 */
export function exampleTasks(chute: Chute) {
  return [
    // The seed's task, as its TypeScript example writes it (putStream not awaited).
    chute.task({
      name: 'stream-example',
      fn: async (_: unknown, ctx) => {
        await sleep(2000);

        for (const chunk of createChunks(annaKarenina, 10)) {
          void ctx.putStream(chunk);
          await sleep(200);
        }
      },
    }),
    chute.task({ name: 'noop', fn: () => undefined }),
    // A no-op that says when it ran (ms since the epoch, sub-ms precision): the
    // runs benchmark times trigger -> task start through the SDK's run() with it.
    chute.task({ name: 'clock', fn: () => ({ at: performance.timeOrigin + performance.now() }) }),
    chute.task({ name: 'echo', fn: (input: unknown) => input }),
    chute.task({
      name: 'fail',
      retries: 2,
      fn: (input: { message?: string } | null, ctx) => {
        throw new Error(`${input?.message ?? 'failed on purpose'} (attempt ${ctx.attempt})`);
      },
    }),
    chute.task({
      name: 'flaky',
      retries: 3,
      fn: (input: { failures: number }, ctx) => {
        if (ctx.attempt <= input.failures) throw new Error(`flaky failure on attempt ${ctx.attempt}`);
        return { attempt: ctx.attempt };
      },
    }),
    // Load for benchmarks and demos: `count` chunks of `bytes` bytes, one every
    // `intervalMs` after `delayMs`. Each chunk begins with the time it was put
    // (ms since the epoch, sub-ms precision) so a subscriber on the same machine
    // can measure putStream -> subscriber latency. intervalMs 0 puts them as fast
    // as the event loop allows, un-awaited, yielding every 100 chunks.
    chute.task({
      name: 'stream-ticks',
      executionTimeout: '1h',
      fn: async (input: { count: number; intervalMs?: number; delayMs?: number; bytes?: number }, ctx) => {
        const { count, intervalMs = 0, delayMs = 0, bytes = 100 } = input;
        await sleep(delayMs, undefined, { signal: ctx.abortSignal });
        for (let i = 0; i < count; i++) {
          void ctx.putStream(`${(performance.timeOrigin + performance.now()).toFixed(3)} `.padEnd(bytes, '.'));
          if (intervalMs > 0) await sleep(intervalMs, undefined, { signal: ctx.abortSignal });
          else if (i % 100 === 99) await yieldToLoop();
        }
        return { chunks: count };
      },
    }),
    chute.task({
      name: 'sleep',
      executionTimeout: '1h',
      fn: async (input: { ms: number }, ctx) => {
        await sleep(input.ms, undefined, { signal: ctx.abortSignal });
        return { slept: input.ms };
      },
    }),
  ];
}
