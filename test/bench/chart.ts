// The latency distributions of one run as an SVG chart, drawn by Vega-Lite
// (compiled to Vega and rendered headless to SVG): Chute beside BullMQ and the
// floors, one panel per scenario, latency on a log scale at each percentile.
import type { BenchParams } from './params';
import type { Results } from './results';
import { CURVE_PERCENTILES } from './stats';

interface Series {
  key: string;
  name: string;
}

function panels(params: BenchParams): { title: string; series: Series[] }[] {
  const n = params.streams.toLocaleString('en');
  return [
    {
      title: 'stream latency, 1 stream, 100 B',
      series: [
        { key: 'chute.stream.1.ws.100B', name: 'Chute, WebSocket' },
        { key: 'chute.stream.1.sse.100B', name: 'Chute, SSE' },
        { key: 'chute.stream.1.sdk.100B', name: 'Chute, SDK' },
        { key: 'bullmq.stream.1.100B', name: 'BullMQ, progress event' },
        { key: 'floor.kafkajs.stream.1.100B', name: 'floor: kafkajs' },
        { key: 'floor.platformatic.stream.1.100B', name: 'floor: @platformatic/kafka' },
        { key: 'floor.ws.stream.1.100B', name: 'floor: ws' },
      ],
    },
    {
      title: 'stream latency, 1 stream, 4 KiB',
      series: [
        { key: 'chute.stream.1.ws.4KiB', name: 'Chute, WebSocket' },
        { key: 'bullmq.stream.1.4KiB', name: 'BullMQ, progress event' },
        { key: 'floor.kafkajs.stream.1.4KiB', name: 'floor: kafkajs' },
        { key: 'floor.platformatic.stream.1.4KiB', name: 'floor: @platformatic/kafka' },
        { key: 'floor.ws.stream.1.4KiB', name: 'floor: ws' },
      ],
    },
    {
      title: `stream latency, ${n} streams × 5 chunks/s`,
      series: [
        { key: 'chute.stream.many.ws', name: 'Chute, WebSocket' },
        { key: 'bullmq.stream.many', name: 'BullMQ, progress event' },
        { key: 'floor.kafkajs.stream.many', name: 'floor: kafkajs' },
        { key: 'floor.platformatic.stream.many', name: 'floor: @platformatic/kafka' },
      ],
    },
    {
      title: 'trigger → task start at 100/s',
      series: [
        { key: 'chute.start.100', name: 'Chute, run start' },
        { key: 'bullmq.start.100', name: 'BullMQ, job start' },
      ],
    },
  ];
}

const percentileLabel = (p: number): string => (p === 100 ? 'max' : `p${p}`);

/** Renders the chart to an SVG string. */
export async function latencyChart(results: Results, params: BenchParams): Promise<string> {
  const values: { panel: string; series: string; percentile: string; ms: number }[] = [];
  for (const panel of panels(params)) {
    for (const series of panel.series) {
      const figure = results.figures[series.key];
      if (figure?.kind !== 'latency') continue;
      const name = series.name;
      for (const [p, ms] of figure.curve) values.push({ panel: panel.title, series: name, percentile: percentileLabel(p), ms: Math.max(ms, 0.01) });
    }
  }
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Latency distributions: Chute, BullMQ and the floors (same machine, one run)', fontSize: 14 },
    data: { values },
    facet: { field: 'panel', type: 'nominal', title: null, sort: panels(params).map((p) => p.title) },
    columns: 2,
    spec: {
      width: 360,
      height: 240,
      layer: [{ mark: { type: 'line', point: true } }],
      encoding: {
        x: { field: 'percentile', type: 'ordinal', sort: CURVE_PERCENTILES.map(percentileLabel), title: 'percentile', axis: { labelAngle: 0 } },
        y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'latency (ms, log scale)' },
        color: {
          field: 'series',
          type: 'nominal',
          title: null,
          scale: {
            domain: ['Chute, WebSocket', 'Chute, SSE', 'Chute, SDK', 'Chute, run start', 'BullMQ, progress event', 'BullMQ, job start', 'floor: kafkajs', 'floor: @platformatic/kafka', 'floor: ws'],
            range: ['#1f77b4', '#6baed6', '#9ecae1', '#08306b', '#d62728', '#ff9896', '#7f7f7f', '#2ca02c', '#bcbd22'],
          },
        },
        tooltip: [{ field: 'series' }, { field: 'percentile' }, { field: 'ms', format: '.2f' }],
      },
    },
    resolve: { scale: { y: 'independent' } },
    config: { legend: { orient: 'bottom', columns: 3, labelLimit: 300 }, background: 'white' },
  };
  // ESM-only packages: loaded when the chart is drawn.
  const vegaLite = await import('vega-lite');
  const vega = await import('vega');
  const compiled = vegaLite.compile(spec as Parameters<typeof vegaLite.compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
