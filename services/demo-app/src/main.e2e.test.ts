import { serviceLifecycleSuite } from '@chute/testing';

serviceLifecycleSuite('demo-app', {
  badConfig: [{ variable: 'CHUTE_GATEWAY_URL', value: 'ftp://nowhere', message: /must be an http\(s\) URL/ }],
  extraEnv: () => ({ CHUTE_DEMO_PORT: '0' }),
});
