import { BAD_BROKERS, BAD_DATABASE, serviceLifecycleSuite } from '@chute/testing';

serviceLifecycleSuite('gateway', {
  badConfig: [
    BAD_BROKERS,
    BAD_DATABASE,
    { variable: 'CHUTE_AUTH_SECRET', value: 'k1:too-short', message: /CHUTE_AUTH_SECRET.*at least 32/ },
    // Auth is on unless turned off: no key and no CHUTE_AUTH_DISABLED is refused.
    { variable: 'CHUTE_AUTH_SECRET', value: '', message: /CHUTE_AUTH_SECRET: required .* or set CHUTE_AUTH_DISABLED=true/ },
  ],
  extraEnv: () => ({ CHUTE_GATEWAY_PORT: '0', CHUTE_AUTH_SECRET: `test:${'s'.repeat(32)}` }),
});
