import type { FastifyInstance } from 'fastify';
import { Lifecycle, type Component, type Logger } from '@chute/runtime';
import { Chute } from '@chute/sdk';
import { buildDemoApp } from './app';
import type { DemoConfig } from './config';

export class DemoServer implements Component {
  private readonly lifecycle = new Lifecycle();
  private readonly app: FastifyInstance;

  constructor(
    private readonly config: DemoConfig,
    private readonly logger: Logger,
  ) {
    this.app = buildDemoApp(Chute.init({ gatewayUrl: config.CHUTE_GATEWAY_URL, ...(config.CHUTE_TOKEN ? { token: config.CHUTE_TOKEN } : {}) }), {
      publicGatewayUrl: config.CHUTE_DEMO_PUBLIC_GATEWAY_URL ?? config.CHUTE_GATEWAY_URL,
    });
  }

  /** The bound address, once started (port 0 picks a free one). */
  address(): string {
    const address = this.app.server.address();
    if (!address || typeof address === 'string') throw new Error('demo app is not listening');
    return `http://${address.address}:${address.port}`;
  }

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      await this.app.listen({ host: this.config.CHUTE_DEMO_HOST, port: this.config.CHUTE_DEMO_PORT });
      this.logger.info('listening', { address: this.address() });
    });
  }

  stop(): Promise<void> {
    // Open streams end with the connections fastify closes.
    return this.lifecycle.stop(() => this.app.close());
  }
}
