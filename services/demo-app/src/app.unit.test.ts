import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Chute } from '@chute/sdk';
import { buildDemoApp } from './app';

test('while the gateway does not answer, the demo says so with 503, never a 500 "fetch failed"', async () => {
  // A port nothing listens on: taken, then released.
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  const gatewayUrl = `http://127.0.0.1:${port}`;
  const app = buildDemoApp(Chute.init({ gatewayUrl }), { publicGatewayUrl: gatewayUrl });
  try {
    for (const [method, url] of [['POST', '/api/runs'], ['GET', '/stream']] as const) {
      const response = await app.inject({ method, url });
      assert.equal(response.statusCode, 503, `${method} ${url}`);
      const body = response.json<{ code: string; message: string }>();
      assert.equal(body.code, 'UNAVAILABLE');
      assert.match(body.message, new RegExp(`gateway at ${gatewayUrl} did not answer`));
    }
  } finally {
    await app.close();
  }
});
