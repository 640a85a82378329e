import net from 'node:net';

/**
 * A TCP port free on 127.0.0.1 right now, for a program that must be told its
 * port up front (one that cannot be given 0 and report what it got).
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
