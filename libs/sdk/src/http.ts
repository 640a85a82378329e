import type { z } from 'zod';
import { ApiError } from '@chute/schemas';
import { ChuteApiError, GatewayUnreachableError } from './errors';

export interface HttpOptions {
  baseUrl: string;
  token?: string | undefined;
}

/** A small JSON client for the gateway: every response is validated against its schema. */
export class GatewayHttp {
  constructor(private readonly options: HttpOptions) {}

  async request<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    body?: unknown,
    accept: readonly number[] = [200, 201, 202],
  ): Promise<{ status: number; data: z.infer<S> }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.options.token) headers['authorization'] = `Bearer ${this.options.token}`;
    let response: Response;
    try {
      response = await fetch(new URL(path, this.options.baseUrl), {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      // fetch rejects only when no response came at all (its TypeError "fetch failed").
      throw new GatewayUnreachableError(this.options.baseUrl, error);
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      throw new ChuteApiError(response.status, 'INVALID_RESPONSE', `gateway answered ${response.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (!accept.includes(response.status)) {
      const error = ApiError.safeParse(json);
      if (error.success) throw new ChuteApiError(response.status, error.data.code, error.data.message);
      throw new ChuteApiError(response.status, 'HTTP_ERROR', `gateway answered ${response.status}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new ChuteApiError(response.status, 'INVALID_RESPONSE', `unexpected response from ${path}: ${parsed.error.message}`);
    }
    return { status: response.status, data: parsed.data };
  }
}
