import { BAD_BROKERS, BAD_DATABASE, serviceLifecycleSuite } from '@chute/testing';

serviceLifecycleSuite('gateway', { badConfig: [BAD_BROKERS, BAD_DATABASE], extraEnv: () => ({ CHUTE_GATEWAY_PORT: '0' }) });
