// `npm run bench`: every benchmark, one after the other (never two at once: 2 cores),
// then the side-by-side table, the JSON results and the latency chart.
// `npm run bench -- stream bullmq` runs some of them. Parameters: params.ts.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { bullmqBench } from './bullmq.bench';
import { latencyChart } from './chart';
import { floorsBench } from './floors.bench';
import { readParams, type BenchParams } from './params';
import { pythonPeerBench } from './python-peer.bench';
import { table } from './report';
import { Results } from './results';
import { runsBench } from './runs.bench';
import { sdksBench } from './sdks.bench';
import { streamBench } from './stream.bench';
import { takeoverBench } from './takeover.bench';

type Bench = (results: Results, params: BenchParams) => Promise<unknown>;
const benches: Record<string, Bench> = { floors: floorsBench, stream: streamBench, runs: runsBench, takeover: takeoverBench, bullmq: bullmqBench, sdks: sdksBench, python: pythonPeerBench };

function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join('node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The broker's Kafka version, from the jar on its command line, when it runs on this machine. */
function brokerVersion(): string {
  try {
    const ps = execFileSync('ps', ['-ww', '-eo', 'args='], { encoding: 'utf8' });
    const line = ps.split('\n').find((l) => /\bkafka\.Kafka\b/.test(l)) ?? '';
    const jars = /-cp (\S+)/.exec(line)?.[1]?.split(':').flatMap((entry) => (entry.endsWith('/*') ? readdirSync(entry.slice(0, -2)) : [entry])) ?? [];
    return jars.map((jar) => /kafka_[\d.]+-([\d.]+)\.jar$/.exec(jar)?.[1]).find(Boolean) ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const chosen = process.argv.slice(2);
  const unknown = chosen.filter((name) => !(name in benches));
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')}: choose from ${Object.keys(benches).join(', ')}`);
  const params = readParams();
  const results = new Results();
  const startedAt = new Date();
  console.log(`bench: machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}`);
  console.log(`bench: parameters: ${JSON.stringify(params)}`);
  let redis: string | undefined;
  for (const [name, bench] of Object.entries(benches)) {
    if (chosen.length > 0 && !chosen.includes(name)) continue;
    const began = performance.now();
    const out = await bench(results, params);
    if (name === 'bullmq') redis = (out as { redis: string }).redis;
    console.log(`bench: ${name} took ${((performance.now() - began) / 1000).toFixed(0)} s`);
  }
  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  const markdown = table(results, params);
  console.log(`\n${markdown}\n`);
  console.log('Latency cells are p50 / p99 / p99.9. Ratios are Chute ÷ the other: for latency and CPU below 1 is better, for rates above 1 is better.');

  mkdirSync(params.outDir, { recursive: true });
  const versions = {
    node: process.version,
    kafka: brokerVersion(),
    kafkajs: versionOf('kafkajs'),
    '@platformatic/kafka': versionOf('@platformatic/kafka'),
    ws: versionOf('ws'),
    bullmq: versionOf('bullmq'),
    ioredis: versionOf('ioredis'),
    'redis-server': redis ?? 'not run',
  };
  const json = {
    startedAt: startedAt.toISOString(),
    seconds,
    machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown' },
    versions,
    params,
    benches: chosen.length > 0 ? chosen : Object.keys(benches),
    figures: results.figures,
  };
  writeFileSync(join(params.outDir, 'results.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(params.outDir, 'results.md'), `${markdown}\n`);
  writeFileSync(join(params.outDir, 'latency.svg'), await latencyChart(results, params));
  console.log(`bench: versions: ${JSON.stringify(versions)}`);
  console.log(`bench: wrote ${join(params.outDir, 'results.json')}, results.md and latency.svg in ${seconds.toFixed(0)} s`);
}

// Ctrl-C or a kill: exit, so the helpers this run started (Redis, BullMQ's worker) are killed on the way out.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
