// Stream subscribers of one run over each of the gateway's transports, recording
// each chunk's putStream -> receipt latency (a chunk starts with the time the
// task put it) and when the first and last chunks came.
import http from 'node:http';
import WebSocket from 'ws';
import { Chute } from '@chute/sdk';
import { now } from './stats';

export type Transport = 'ws' | 'sse' | 'sdk';
export const TRANSPORT_NAMES: Record<Transport, string> = { ws: 'WebSocket', sse: 'SSE', sdk: 'SDK (subscribeToStream)' };

export abstract class Subscriber {
  readonly latencies: number[] = [];
  chunks = 0;
  firstAt = 0;
  lastAt = 0;
  /** Measured chunks that came after a chunk put later than them (each chunk carries the time it was put). */
  outOfOrder = 0;
  private lastPutAt = Number.NEGATIVE_INFINITY;
  /** Resolves once the gateway has subscribed it: chunks appended from then on reach it. */
  abstract readonly opened: Promise<void>;
  /** Resolves with how the stream ended ("... COMPLETED" when the run did). */
  abstract readonly ended: Promise<string>;
  abstract close(): void;

  constructor(protected readonly measure: boolean) {}

  protected chunk(at: number, data: string): void {
    if (this.chunks++ === 0) this.firstAt = at;
    this.lastAt = at;
    if (!this.measure) return;
    const putAt = Number.parseFloat(data.slice(0, 20));
    if (putAt < this.lastPutAt) this.outOfOrder++;
    this.lastPutAt = putAt;
    this.latencies.push(at - putAt);
  }

  /** `token`: a bearer token with `stream:read`, sent as each transport's client sends it (none: a gateway without auth). */
  static of(transport: Transport, gatewayUrl: string, runId: string, measure: boolean, options: { query?: string; token?: string } = {}): Subscriber {
    const { query = '', token } = options;
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    switch (transport) {
      case 'ws':
        return new WsSubscriber(gatewayUrl, runId, measure, query, headers);
      case 'sse':
        return new SseSubscriber(gatewayUrl, runId, measure, query, headers);
      case 'sdk':
        return new SdkSubscriber(gatewayUrl, runId, measure, token);
      default: {
        const _exhaustive: never = transport;
        return _exhaustive;
      }
    }
  }
}

class WsSubscriber extends Subscriber {
  readonly opened: Promise<void>;
  readonly ended: Promise<string>;
  private readonly socket: WebSocket;

  constructor(gatewayUrl: string, runId: string, measure: boolean, query: string, headers: Record<string, string>) {
    super(measure);
    const url = new URL(`/api/v1/runs/${runId}/stream${query}`, gatewayUrl);
    url.protocol = 'ws:';
    this.socket = new WebSocket(url, { perMessageDeflate: false, headers });
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
      this.socket.once('unexpected-response', (_req, res) => reject(new Error(`stream of ${runId} refused: ${res.statusCode}`)));
    });
    this.ended = new Promise((resolve) => {
      this.socket.on('message', (data: Buffer) => {
        const at = now();
        // {"type":"end",... or {"type":"chunk",...: the 9th byte tells them apart without parsing.
        if (data[9] === 0x65 /* e */) {
          resolve(String(data));
          return;
        }
        if (data[9] !== 0x63 /* c */) return;
        // Parsed only when measured: the throughput figures must not be the parser's.
        this.chunk(at, this.measure ? (JSON.parse(String(data)) as { data: string }).data : '');
      });
      this.socket.once('close', (code) => resolve(`closed ${code}`));
    });
  }

  close(): void {
    this.socket.terminate();
  }
}

/** Server-sent events read off a plain HTTP response, as a lean EventSource would. */
class SseSubscriber extends Subscriber {
  readonly opened: Promise<void>;
  readonly ended: Promise<string>;
  private request: http.ClientRequest | undefined;

  constructor(gatewayUrl: string, runId: string, measure: boolean, query: string, headers: Record<string, string>) {
    super(measure);
    let opened!: () => void;
    let refused!: (error: Error) => void;
    this.opened = new Promise((resolve, reject) => ((opened = resolve), (refused = reject)));
    this.ended = new Promise((resolve) => {
      this.request = http.get(new URL(`/api/v1/runs/${runId}/stream${query}`, gatewayUrl), { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
        if (res.statusCode !== 200) {
          refused(new Error(`stream of ${runId} refused: ${res.statusCode}`));
          res.resume();
          return;
        }
        // The gateway subscribes before it writes the headers.
        opened();
        res.setEncoding('utf8');
        let buffered = '';
        let end = '';
        res.on('data', (text: string) => {
          const at = now();
          buffered += text;
          let cut: number;
          while ((cut = buffered.indexOf('\n\n')) >= 0) {
            const frame = buffered.slice(0, cut);
            buffered = buffered.slice(cut + 2);
            const event = /^event: (\w+)$/m.exec(frame)?.[1];
            const data = /^data: (.*)$/m.exec(frame)?.[1] ?? '';
            if (event === 'chunk') this.chunk(at, this.measure ? (JSON.parse(data) as { data: string }).data : '');
            else if (event === 'end') end = data;
          }
        });
        res.on('end', () => resolve(end || 'ended without an end event'));
        res.on('error', () => resolve(end || 'response failed'));
      });
      this.request.on('error', (error) => {
        refused(error);
        resolve(`failed: ${error.message}`);
      });
    });
  }

  close(): void {
    this.request?.destroy();
  }
}

/** The SDK's iterator (over the gateway's WebSocket, validating each message), from the run's first chunk. */
class SdkSubscriber extends Subscriber {
  // The SDK opens its socket on the first next(); from=start replays what came before it.
  readonly opened = Promise.resolve();
  readonly ended: Promise<string>;
  private readonly abort = new AbortController();

  constructor(gatewayUrl: string, runId: string, measure: boolean, token: string | undefined) {
    super(measure);
    const chute = Chute.init({ gatewayUrl, ...(token ? { token } : {}) });
    this.ended = (async () => {
      for await (const data of chute.runs.subscribeToStream(runId, { from: 'start' })) {
        this.chunk(now(), data);
        if (this.abort.signal.aborted) return 'closed';
      }
      // The SDK ends its iteration on the stream's end and does not say the run's status.
      return 'end (SDK) COMPLETED';
    })();
  }

  close(): void {
    this.abort.abort();
  }
}
