import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The Maven pom that names Kafka's jars, relative to the checkout's root (`npm run setup` fetches from it). */
export const KAFKA_POM = path.join('infra', 'kafka', 'pom.xml');

/**
 * Where Kafka's jars are kept: `<root>/.cache/kafka/<first 12 hex of the sha1
 * of the pom>`, one folder per content of the pom, so a version bump fetches
 * afresh. `npm run setup` (tools/setup/steps.ts) fetches into this folder and
 * infra:up runs from it: both name it through this function.
 */
export function kafkaJarsDir(root: string): string {
  const pom = readFileSync(path.join(root, KAFKA_POM));
  return path.join(root, '.cache', 'kafka', createHash('sha1').update(pom).digest('hex').slice(0, 12));
}

/** Whether `dir` holds Kafka's jars (a fetch cut short leaves none: it goes through a temp dir). */
export function hasKafkaJars(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((file) => /^kafka_2\.13-.*\.jar$/.test(file));
}

/** The major version of a `java -version` output (8 for "1.8.0_x"), or undefined. */
export function parseJavaMajor(versionOutput: string): number | undefined {
  const match = /version "(?:1\.)?(\d+)/.exec(versionOutput.split('\n')[0] ?? '');
  return match ? Number(match[1]) : undefined;
}

/** The major version of the java on PATH, or undefined when there is none. */
export function javaMajor(): number | undefined {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (result.error) return undefined;
  return parseJavaMajor(`${result.stderr}${result.stdout}`);
}
