import http from 'node:http';
import https from 'node:https';
import type { z } from 'zod';
import { ApiError } from '@chute/schemas';
import { ChuteApiError, GatewayUnreachableError } from '../errors';

export interface HttpOptions {
  baseUrl: string;
  token?: string | undefined;
}

/**
 * How long a kept-alive connection may sit idle before the client closes it:
 * under the gateway's own idle timeout (fastify's 72 s), so a request is never
 * written to a connection the gateway is closing.
 */
const IDLE_SOCKET_MS = 30_000;

/**
 * A small JSON client for the gateway: every response is validated against its
 * schema. It keeps its connections alive and reuses them (node:http rather
 * than fetch, whose WHATWG streams cost several times the CPU per exchange), so
 * a `run()` costs the user's process one exchange on an open connection.
 */
export class GatewayHttp {
  private readonly agent: http.Agent;
  private readonly send: typeof http.request;
  private readonly authorization: string | undefined;

  constructor(private readonly options: HttpOptions) {
    const secure = new URL(options.baseUrl).protocol === 'https:';
    this.agent = new (secure ? https.Agent : http.Agent)({ keepAlive: true, timeout: IDLE_SOCKET_MS });
    this.send = secure ? https.request : http.request;
    this.authorization = options.token ? `Bearer ${options.token}` : undefined;
  }

  async request<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    body?: unknown,
    accept: readonly number[] = [200, 201, 202],
  ): Promise<{ status: number; data: z.infer<S> }> {
    const { status, text } = await this.exchange(method, path, body === undefined ? undefined : JSON.stringify(body));
    let json: unknown;
    try {
      json = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      throw new ChuteApiError(status, 'INVALID_RESPONSE', `gateway answered ${status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (!accept.includes(status)) {
      const error = ApiError.safeParse(json);
      if (error.success) throw new ChuteApiError(status, error.data.code, error.data.message);
      throw new ChuteApiError(status, 'HTTP_ERROR', `gateway answered ${status}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new ChuteApiError(status, 'INVALID_RESPONSE', `unexpected response from ${path}: ${parsed.error.message}`);
    }
    return { status, data: parsed.data };
  }

  /** Closes the kept-alive connections; requests after it open new ones. */
  close(): void {
    this.agent.destroy();
  }

  private exchange(method: 'GET' | 'POST', path: string, body: string | undefined): Promise<{ status: number; text: string }> {
    const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    if (this.authorization) headers['authorization'] = this.authorization;
    return new Promise((resolve, reject) => {
      const request = this.send(new URL(path, this.options.baseUrl), { method, headers, agent: this.agent }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', (error) => reject(new GatewayUnreachableError(this.options.baseUrl, error)));
      });
      // No answer came at all: refused, reset or unresolvable.
      request.on('error', (error) => reject(new GatewayUnreachableError(this.options.baseUrl, error)));
      request.end(body);
    });
  }
}
