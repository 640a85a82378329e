// What one `npm run bench` measured: every figure under a stable key, so the
// report can set Chute, its floors and BullMQ side by side, the JSON file can
// be read by a program, and the smoke test can check nothing is missing.
import type { Latency } from './stats';

export type System = 'chute' | 'floor' | 'bullmq';

export interface LatencyFigure extends Latency {
  kind: 'latency';
  /** Events that never arrived (BullMQ trims its event stream); 0 where every one did. */
  lost?: number;
}

export interface ValueFigure {
  kind: 'value';
  value: number;
  /** 'runs/s', 'deliveries/s', 'MB/s', 'MiB', 's', 'ms'... */
  unit: string;
  /** Events that never arrived; 0 where every one did. */
  lost?: number;
}

export type Figure = (LatencyFigure | ValueFigure) & {
  system: System;
  /** What exactly was measured, in words: "putStream -> WebSocket, 1 stream, 100 B chunks". */
  label: string;
  /** More that a reader may want (CPU per run by process, distinct chunks/s in...). */
  detail?: string;
};

/** The figures of one run, by key (`chute.stream.1.ws.100B`, `bullmq.jobs.400`, ...). */
export class Results {
  readonly figures: Record<string, Figure> = {};

  latency(key: string, system: System, label: string, latency: Latency, extra: { lost?: number; detail?: string } = {}): void {
    this.figures[key] = { kind: 'latency', system, label, ...latency, ...extra };
  }

  value(key: string, system: System, label: string, value: number, unit: string, extra: { lost?: number; detail?: string } = {}): void {
    this.figures[key] = { kind: 'value', system, label, value, unit, ...extra };
  }
}
