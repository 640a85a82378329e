import { serviceLifecycleSuite } from '@chute/testing';

serviceLifecycleSuite('gateway', { usesDatabase: true, extraEnv: () => ({ CHUTE_GATEWAY_PORT: '0' }) });
