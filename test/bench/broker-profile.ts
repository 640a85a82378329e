// The broker's side of a profiled runs benchmark: Java Flight Recorder on the
// running Kafka (jcmd, from the JDK that runs it), summarized like the
// services' profiles: busy samples by thread, by request type the broker was
// handling (KafkaApis.handle*), and by the method on top of the stack.
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

interface Frame {
  method: { type: { name: string }; name: string };
}

interface Sample {
  values: { stackTrace?: { frames: Frame[] }; sampledThread?: { javaName?: string } };
}

/** A flight recording of the broker process, started now; `stop()` writes it and says where its CPU went. */
export function recordBroker(pid: number, dir: string): { stop(): string } {
  const file = join(resolve(dir), 'broker.jfr');
  execFileSync('jcmd', [String(pid), 'JFR.start', 'name=chute-bench', 'settings=profile', `filename=${file}`], { stdio: 'ignore' });
  return {
    stop: () => {
      execFileSync('jcmd', [String(pid), 'JFR.stop', 'name=chute-bench'], { stdio: 'ignore' });
      return summarizeRecording(file);
    },
  };
}

const counted = (counts: Map<string, number>, key: string): void => void counts.set(key, (counts.get(key) ?? 0) + 1);

function table(title: string, counts: Map<string, number>, total: number, top: number): string {
  const rows = [...counts].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [`| ${title} | share of samples |`, '| --- | --- |', ...rows.map(([name, n]) => `| \`${name}\` | ${((100 * n) / total).toFixed(1)} % |`)].join('\n');
}

/** Markdown: the recording's execution samples by thread, by request handler and by top method. */
export function summarizeRecording(file: string, top = 15): string {
  const json = execFileSync('jfr', ['print', '--json', '--events', 'jdk.ExecutionSample', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const samples = (JSON.parse(json) as { recording: { events: Sample[] } }).recording.events;
  const byThread = new Map<string, number>();
  const byHandler = new Map<string, number>();
  const byMethod = new Map<string, number>();
  for (const sample of samples) {
    // kafka-request-handler-3 and kafka-request-handler-5 are one pool.
    counted(byThread, (sample.values.sampledThread?.javaName ?? '?').replace(/[-\d]+$/, ''));
    const frames = (sample.values.stackTrace?.frames ?? []).map((f) => `${f.method.type.name.replaceAll('/', '.')}.${f.method.name}`);
    if (frames[0]) counted(byMethod, frames[0]);
    const handler = frames.find((f) => /^kafka\.server\.KafkaApis\.handle\w+Request/.test(f));
    counted(byHandler, handler ? handler.replace('kafka.server.KafkaApis.', '') : '(not in a request handler)');
  }
  return [
    `${samples.length} execution samples.`,
    '',
    table('thread', byThread, samples.length, top),
    '',
    table('request being handled', byHandler, samples.length, top),
    '',
    table('method on top of the stack', byMethod, samples.length, top),
  ].join('\n');
}
