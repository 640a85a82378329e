// BullMQ's worker for the bench, a process of its own as Chute's worker is.
// Jobs: `noop` returns when it started; `ticks` reports `count` progress
// updates of `bytes` bytes, each starting with the time it was made (the
// analogue of Chute's stream-ticks task). Prints `ready`; stops when stdin closes.
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker, type Job } from 'bullmq';

const now = (): number => performance.timeOrigin + performance.now();

interface Ticks {
  count: number;
  intervalMs: number;
  delayMs: number;
  bytes: number;
}

async function processJob(job: Job): Promise<{ startedAt: number }> {
  const startedAt = now();
  if (job.name === 'ticks') {
    const { count, intervalMs, delayMs, bytes } = job.data as Ticks;
    if (delayMs > 0) await sleep(delayMs);
    const pending: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const update = job.updateProgress(`${now().toFixed(3)} `.padEnd(bytes, '.'));
      if (intervalMs > 0) {
        await update;
        await sleep(intervalMs);
      } else {
        // As fast as it can, un-awaited, yielding every 100: as stream-ticks does.
        pending.push(update);
        if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
      }
    }
    await Promise.all(pending);
  }
  return { startedAt };
}

const worker = new Worker(process.env['BENCH_QUEUE']!, processJob, {
  connection: { host: '127.0.0.1', port: Number(process.env['BENCH_REDIS_PORT']), maxRetriesPerRequest: null },
  concurrency: Number(process.env['BENCH_CONCURRENCY'] ?? 2000),
});
worker.on('error', (error) => console.error(`worker error: ${error.message}`));
void worker.waitUntilReady().then(() => console.log('ready'));
process.stdin.resume();
process.stdin.on('end', () => {
  void worker.close().then(() => process.exit(0));
});
