import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { Port } from './config';
import { Lifecycle, withDeadline, type Component } from './lifecycle';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

/** A component that can say whether it is ready to do its work. */
export interface Probed extends Component {
  /** Resolves when ready; rejects with an error whose message names what is not. */
  checkReady(): Promise<void>;
  readonly metrics: Metrics;
}

/**
 * Where a service without an API of its own (scheduler, projector, worker)
 * answers its probes. Each service has its own default port, so the services
 * of one machine do not collide; 0 picks a free one.
 */
export const probeEnv = (defaultPort: number) =>
  z.object({
    /** Interface the probe server listens on; 0.0.0.0 in a container. @default 127.0.0.1 */
    CHUTE_PROBE_HOST: z.string().min(1).default('127.0.0.1'),
    CHUTE_PROBE_PORT: Port.default(defaultPort),
  });
export type ProbeConfig = z.infer<ReturnType<typeof probeEnv>>;

/** How long a readiness check may take before it counts as not ready. */
const READY_TIMEOUT_MS = 2000;

/**
 * `/healthz` (the process answers), `/readyz` (200, or 503 naming what is not
 * ready) and `/metrics` for a component. It listens before the component
 * starts, so an orchestrator sees a starting service as alive but not ready,
 * and stops after it.
 */
export class ProbeServer implements Component {
  private readonly lifecycle = new Lifecycle();
  private readonly server: http.Server;

  constructor(
    private readonly target: Probed,
    private readonly config: ProbeConfig,
    private readonly logger: Logger,
  ) {
    this.server = http.createServer((request, response) => void this.answer(request, response));
  }

  /** The bound address, once started. */
  address(): string {
    const address = this.server.address() as AddressInfo | null;
    if (!address) throw new Error('probe server is not listening');
    return `http://${address.address}:${address.port}`;
  }

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(this.config.CHUTE_PROBE_PORT, this.config.CHUTE_PROBE_HOST, () => {
          this.server.off('error', reject);
          resolve();
        });
      });
      this.logger.info('probes listening', { address: this.address() });
    });
  }

  stop(): Promise<void> {
    return this.lifecycle.stop(async () => {
      this.server.closeAllConnections();
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
    });
  }

  private async answer(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown, type = 'application/json'): void => {
      response.writeHead(status, { 'content-type': type });
      response.end(type === 'application/json' ? JSON.stringify(body) : String(body));
    };
    if (request.method !== 'GET') return send(405, { code: 'METHOD_NOT_ALLOWED', message: `${request.method ?? ''} is not allowed; use GET` });
    switch (path) {
      case '/healthz':
        return send(200, { status: 'ok' });
      case '/readyz':
        try {
          await withDeadline(this.target.checkReady(), READY_TIMEOUT_MS, `readiness check did not answer within ${READY_TIMEOUT_MS} ms`);
          return send(200, { status: 'ready' });
        } catch (error) {
          return send(503, { code: 'UNAVAILABLE', message: `not ready: ${error instanceof Error ? error.message : String(error)}` });
        }
      case '/metrics':
        return send(200, this.target.metrics.render(), 'text/plain; version=0.0.4');
      default:
        return send(404, { code: 'NOT_FOUND', message: `no route for GET ${path}; try /healthz, /readyz or /metrics` });
    }
  }
}

/**
 * The component with its probe server around it: probes up first and down
 * last, so the process answers /healthz for its whole life.
 */
export function withProbes(target: Probed, config: ProbeConfig, logger: Logger): Component {
  const probes = new ProbeServer(target, config, logger);
  const lifecycle = new Lifecycle();
  return {
    start: () =>
      lifecycle.start(async () => {
        await probes.start();
        await target.start();
      }),
    stop: () =>
      lifecycle.stop(async () => {
        await target.stop();
        await probes.stop();
      }),
  };
}
