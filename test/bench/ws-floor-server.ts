// The bare `ws` floor's server, a process of its own as the gateway is: each
// connection asks in its URL for `count` messages of `bytes` bytes, one every
// `intervalMs` (0: as fast as the socket drains), each starting with the time it
// was sent. Prints `listening <port>` and serves until stdin closes.
import { WebSocketServer, type WebSocket } from 'ws';
import { setTimeout as sleep } from 'node:timers/promises';

const now = (): number => performance.timeOrigin + performance.now();
/** Stop writing while this much is queued on a socket, as the gateway's slow-reader guard does. */
const HIGH_WATER = 1024 * 1024;

async function serve(socket: WebSocket, count: number, intervalMs: number, bytes: number): Promise<void> {
  const padding = '.'.repeat(bytes);
  for (let i = 0; i < count; i++) {
    if (socket.readyState !== socket.OPEN) return;
    socket.send(`${now().toFixed(3)} ${padding}`.slice(0, bytes), { binary: false });
    if (intervalMs > 0) await sleep(intervalMs);
    else if (socket.bufferedAmount > HIGH_WATER) while (socket.bufferedAmount > HIGH_WATER / 4) await sleep(1);
    else if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
  }
  socket.send('end');
}

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
server.on('connection', (socket, request) => {
  const url = new URL(request.url ?? '/', 'http://x');
  const arg = (name: string): number => Number(url.searchParams.get(name) ?? 0);
  void serve(socket, arg('count'), arg('intervalMs'), arg('bytes')).catch(() => socket.terminate());
});
server.on('listening', () => {
  const address = server.address();
  if (typeof address === 'object' && address) console.log(`listening ${address.port}`);
});
process.stdin.resume();
process.stdin.on('end', () => {
  for (const client of server.clients) client.terminate();
  server.close(() => process.exit(0));
});
