// A lean HTTP/1.1 client for load generation: keep-alive sockets and no WHATWG
// streams, so the load generator spends less of the shared cores than fetch().
import http from 'node:http';

export class HttpClient {
  private readonly agent: http.Agent;

  /** `token`: sent as a bearer token with every request, as a user's app sends its own. */
  constructor(
    private readonly baseUrl: string,
    sockets: number,
    private readonly token?: string,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  }

  /** Sends a request and parses the JSON answer. */
  request<T>(method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; body: T }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        new URL(path, this.baseUrl),
        {
          method,
          agent: this.agent,
          headers: {
            ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
            ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as T });
            } catch (error) {
              reject(error instanceof Error ? error : new Error(String(error)));
            }
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
