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

  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      await this.app.listen({ host: this.config.CHUTE_DEMO_HOST, port: this.config.CHUTE_DEMO_PORT });
      const address = this.app.server.address();
      this.logger.info('listening', { address: typeof address === 'object' && address ? `http://${address.address}:${address.port}` : String(address) });
    });
  }

  stop(): Promise<void> {
    // Open streams end with the connections fastify closes.
    return this.lifecycle.stop(() => this.app.close());
  }
}
