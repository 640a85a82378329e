// Reads the V8 CPU profiles (`--cpu-prof`) the services wrote as they stopped
// and says where each one's CPU went: self time by package (an npm package, a
// Chute library or service through the bundle's source map, Node's own code,
// the garbage collector) and the functions that cost the most.
import { readdirSync, readFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Share {
  name: string;
  ms: number;
}

export interface ProfileSummary {
  /** Wall time the profile covers. */
  wallMs: number;
  /** Of it, time on the CPU: every sample but `(idle)`. */
  busyMs: number;
  /** Busy time by where the running code lives, largest first. */
  byPlace: Share[];
  /** Busy time by function (self time), largest first. */
  byFunction: Share[];
}

const repoRoot = join(__dirname, '..', '..');

/** Where a frame's code lives: `(garbage collector)`, `node`, `kafkajs`, `libs/log`... */
class Places {
  private readonly maps = new Map<string, SourceMap | null>();

  place(frame: ProfileNode['callFrame']): { place: string; where: string } {
    const { url, functionName, lineNumber, columnNumber } = frame;
    if (url === '') return { place: functionName.startsWith('(') ? functionName : '(native)', where: '' };
    if (url.startsWith('node:')) return { place: 'node', where: url };
    const path = url.startsWith('file://') ? fileURLToPath(url) : url;
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
    if (pkg) return { place: pkg[1]!, where: `${pkg[1]}/${path.slice(pkg.index + pkg[0].length)}:${lineNumber + 1}` };
    const source = this.original(path, lineNumber, columnNumber);
    if (source) {
      const dirs = source.split('/');
      // libs/log/src/kafka-log.ts -> libs/log; schemas/src/x.ts -> schemas
      const place = dirs[0] === 'libs' || dirs[0] === 'services' ? dirs.slice(0, 2).join('/') : dirs[0]!;
      return { place, where: source };
    }
    return { place: relative(repoRoot, path), where: `${relative(repoRoot, path)}:${lineNumber + 1}` };
  }

  /** The bundled line's original file, relative to the repository, from `<file>.map`. */
  private original(path: string, line: number, column: number): string | undefined {
    if (!this.maps.has(path)) {
      try {
        this.maps.set(path, new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')) as SourceMapPayload));
      } catch {
        this.maps.set(path, null);
      }
    }
    const entry = this.maps.get(path)?.findEntry(line, column);
    if (!entry || !('originalSource' in entry)) return undefined;
    const original = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : join(path, '..', entry.originalSource);
    return relative(repoRoot, original);
  }
}

function sorted(totals: Map<string, number>): Share[] {
  return [...totals].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms);
}

export function summarizeProfile(file: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const places = new Places();
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byPlace = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let idleMs = 0;
  // A sample's time is the delta to the next one (V8 records the delta before each sample).
  for (let i = 0; i < profile.samples.length; i++) {
    const node = nodes.get(profile.samples[i]!)!;
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (node.callFrame.functionName === '(idle)') {
      idleMs += ms;
      continue;
    }
    const { place, where } = places.place(node.callFrame);
    byPlace.set(place, (byPlace.get(place) ?? 0) + ms);
    const fn = `${node.callFrame.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
  }
  const wallMs = (profile.endTime - profile.startTime) / 1000;
  return { wallMs, busyMs: wallMs - idleMs, byPlace: sorted(byPlace), byFunction: sorted(byFunction) };
}

/** The profiles in `dir` by the pid in their name (`CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile`). */
export function profilesByPid(dir: string): Map<number, string> {
  const found = new Map<number, string>();
  for (const name of readdirSync(dir)) {
    const pid = /^CPU\.\d+\.\d+\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(name)?.[1];
    if (pid) found.set(Number(pid), join(dir, name));
  }
  return found;
}

/** A Markdown section per service: where its busy time went. */
export function profileReport(services: { name: string; pid: number }[], dir: string, top = 15): string {
  const files = profilesByPid(dir);
  const pct = (ms: number, of: number): string => `${((100 * ms) / of).toFixed(1)} %`;
  const out: string[] = [];
  for (const { name, pid } of services) {
    const file = files.get(pid);
    if (!file) {
      out.push(`## ${name} (pid ${pid})\n\nNo profile was written (did it exit cleanly?).\n`);
      continue;
    }
    const s = summarizeProfile(file);
    out.push(`## ${name} (pid ${pid})\n`);
    out.push(`Busy ${(s.busyMs / 1000).toFixed(1)} s of ${(s.wallMs / 1000).toFixed(1)} s profiled (${pct(s.busyMs, s.wallMs)}).\n`);
    out.push('| where (self time) | share of busy |\n| --- | --- |');
    for (const share of s.byPlace.slice(0, top)) out.push(`| ${share.name} | ${pct(share.ms, s.busyMs)} |`);
    out.push('\n| function (self time) | share of busy |\n| --- | --- |');
    for (const share of s.byFunction.slice(0, top)) out.push(`| \`${share.name.replaceAll('|', '\\|')}\` | ${pct(share.ms, s.busyMs)} |`);
    out.push('');
  }
  return out.join('\n');
}
