import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { describeIssue, StreamMessage } from '@chute/schemas';
import { ChuteApiError } from '../errors';

export interface SubscribeOptions {
  /** Yield bytes chunks as Uint8Array instead of decoding them as UTF-8. @default false */
  raw?: boolean;
  /** Replay the run's stream from its first chunk instead of from now. */
  from?: 'start';
  /** Resume after this chunk position (`N`, or `A:N` for attempt A). */
  after?: string;
  /** How many times a dropped connection is resumed before the iteration fails. @default 5 */
  maxReconnects?: number;
  /**
   * Called when the chunks that follow belong to another attempt than the
   * ones before (the run was retried after a failure or a lost worker): what
   * comes next is the retry's output from its beginning, not more of the
   * same text. @default a warning on stderr naming the run and the attempt
   */
  onAttempt?: (attempt: number) => void;
}

const position = (m: { attempt: number; seq: number }): string => (m.attempt === 1 ? String(m.seq) : `${m.attempt}:${m.seq}`);

/**
 * A run's stream over the gateway's WebSocket. Ends with the stream; `break`
 * closes the socket; a connection that drops is resumed after the last chunk
 * received, so the iteration neither loses nor repeats a chunk.
 */
export async function* streamOverWebSocket(
  gatewayUrl: string,
  token: string | undefined,
  runId: string,
  options: SubscribeOptions,
): AsyncGenerator<string | Uint8Array, void, undefined> {
  const decoder = new TextDecoder('utf-8');
  let after = options.after;
  let fromStart = options.from === 'start' && after === undefined;
  const maxReconnects = options.maxReconnects ?? 5;
  const onAttempt =
    options.onAttempt ?? ((attempt: number) => process.stderr.write(`chute: run ${runId} was retried; the stream continues with attempt ${attempt}\n`));
  let failures = 0;

  for (;;) {
    const url = new URL(`/api/v1/runs/${encodeURIComponent(runId)}/stream`, gatewayUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (after !== undefined) url.searchParams.set('after', after);
    else if (fromStart) url.searchParams.set('from', 'start');

    const socket = new WebSocket(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    const queue: StreamMessage[] = [];
    let wake: (() => void) | undefined;
    let closed: { code: number; reason: string } | undefined;
    let refused: Error | undefined;
    const notify = (): void => {
      wake?.();
      wake = undefined;
    };
    socket.on('message', (data) => {
      const parsed = StreamMessage.safeParse(JSON.parse(String(data)));
      if (parsed.success) queue.push(parsed.data);
      else {
        const { field, detail } = describeIssue(parsed.error);
        refused = new ChuteApiError(0, 'INVALID_STREAM_MESSAGE', `the gateway sent a stream message this SDK does not understand: ${field}: ${detail}`);
        closed = { code: 0, reason: 'invalid message' };
      }
      notify();
    });
    socket.on('close', (code, reason) => {
      closed = { code, reason: reason.toString() };
      notify();
    });
    socket.on('error', () => notify());
    socket.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        let parsed: { code?: string; message?: string } = {};
        try {
          parsed = JSON.parse(body) as typeof parsed;
        } catch {
          // Not one of ours: report the status alone.
        }
        refused = new ChuteApiError(res.statusCode ?? 0, parsed.code ?? 'HTTP_ERROR', parsed.message ?? `stream refused with ${res.statusCode}`);
        closed = { code: 0, reason: 'refused' };
        notify();
      });
    });

    let ended = false;
    try {
      for (;;) {
        const message = queue.shift();
        if (message) {
          failures = 0;
          if (message.type === 'end') {
            ended = true;
            break;
          }
          if (message.type === 'attempt') {
            onAttempt(message.attempt);
            continue;
          }
          after = position(message);
          fromStart = false;
          if (message.encoding === 'base64') {
            const bytes = Buffer.from(message.data, 'base64');
            yield options.raw ? new Uint8Array(bytes) : decoder.decode(bytes, { stream: true });
          } else {
            yield message.data;
          }
          continue;
        }
        if (refused) throw refused;
        if (closed) break;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      // Reached on the end, on a drop, and when the caller breaks out of its loop.
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.terminate();
    }
    if (ended || closed?.code === 1000) return;
    if (++failures > maxReconnects) {
      throw new ChuteApiError(0, 'STREAM_DISCONNECTED', `stream of run ${runId} dropped ${failures} times in a row (last: ${closed?.code ?? 'error'} ${closed?.reason ?? ''})`);
    }
    await sleep(Math.min(2000, 100 * 2 ** (failures - 1)));
  }
}
