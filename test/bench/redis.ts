// Debian's redis-server for BullMQ, started by the bench on a free port with an
// append-only file fsynced every second (BullMQ's recommended durability, and
// close to the broker's: Kafka acknowledges a write before it reaches the disk),
// and always stopped, its files removed.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Child } from './child';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || !address) throw new Error('no free port');
  return address.port;
}

export interface Redis {
  port: number;
  pid: number;
  version: string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<Redis> {
  const binary = process.env['CHUTE_BENCH_REDIS_SERVER'] || 'redis-server';
  let version: string;
  try {
    version = /v=(\S+)/.exec(execFileSync(binary, ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    throw new Error(`${binary} not found: the BullMQ benchmark needs Debian's redis-server (npm run bench installs it; or apt-get install redis-server)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'chute-bench-redis-'));
  const port = await freePort();
  const child = Child.start('redis-server', binary, [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--appendonly', 'yes',
    '--appendfsync', 'everysec',
    // No RDB snapshots: the AOF is the durability, as configured for BullMQ.
    '--save', '',
    // BullMQ requires it: evicting its keys would lose jobs.
    '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no',
  ]);
  const stop = async (): Promise<void> => {
    await child.stop('SIGTERM', 15_000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await child.waitFor(/Ready to accept connections/);
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, pid: child.pid, version, stop };
}
