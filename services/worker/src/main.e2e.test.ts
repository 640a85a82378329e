import { BAD_BROKERS, serviceLifecycleSuite } from '@chute/testing';

serviceLifecycleSuite('worker', { badConfig: [BAD_BROKERS] });
