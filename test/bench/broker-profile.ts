// The broker's side of a profiled runs benchmark: Java Flight Recorder on the
// running Kafka (jcmd, from the JDK that runs it), summarized like the
// services' profiles: busy samples by thread, by the Kafka code they were in,
// and by the method on top of the stack. (The request a sample served is not
// reliably known: the recorder keeps the top 64 frames, and a request
// handler's stack is often deeper.)
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface Frame {
  method: { type: { name: string }; name: string };
}

interface Sample {
  values: { stackTrace?: { frames: Frame[] }; sampledThread?: { javaName?: string } };
}

/** A flight recording of the broker process, started now; `stop()` writes it and says where its CPU went. */
export function recordBroker(pid: number, dir: string): { stop(): string } {
  // JFR refuses a recording into a directory that does not exist (the services' --cpu-prof creates theirs only as they stop).
  mkdirSync(resolve(dir), { recursive: true });
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

/** Whether a frame is Kafka's own code (not the JDK's, Scala's or a library's). */
const isKafka = (frame: string): boolean => frame.startsWith('kafka.') || (frame.startsWith('org.apache.kafka.') && !frame.startsWith('org.apache.kafka.common.metrics.'));
/** Whether a frame is metrics bookkeeping: Yammer's (request histograms) or Kafka's own sensors. */
const isMetrics = (frame: string): boolean => frame.startsWith('com.yammer.metrics.') || frame.startsWith('org.apache.kafka.common.metrics.');

/** Markdown: the recording's execution samples by thread, by the Kafka code they were in and by top method. */
export function summarizeRecording(file: string, top = 15): string {
  const json = execFileSync('jfr', ['print', '--json', '--events', 'jdk.ExecutionSample', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const samples = (JSON.parse(json) as { recording: { events: Sample[] } }).recording.events;
  const byThread = new Map<string, number>();
  const byKafkaFrame = new Map<string, number>();
  const byMethod = new Map<string, number>();
  let metrics = 0;
  for (const sample of samples) {
    // kafka-request-handler-3 and kafka-request-handler-5 are one pool.
    counted(byThread, (sample.values.sampledThread?.javaName ?? '?').replace(/[-\d]+$/, ''));
    const frames = (sample.values.stackTrace?.frames ?? []).map((f) => `${f.method.type.name.replaceAll('/', '.')}.${f.method.name}`);
    if (frames[0]) counted(byMethod, frames[0]);
    counted(byKafkaFrame, frames.find(isKafka) ?? '(no Kafka frame)');
    if (frames.some(isMetrics)) metrics++;
  }
  return [
    `${samples.length} execution samples; ${((100 * metrics) / samples.length).toFixed(1)} % of them updating metrics (a Yammer or Kafka metrics frame on the stack).`,
    '',
    table('thread', byThread, samples.length, top),
    '',
    table('Kafka code the sample was in (the first Kafka frame from the top)', byKafkaFrame, samples.length, top),
    '',
    table('method on top of the stack', byMethod, samples.length, top),
  ].join('\n');
}
