import { BAD_BROKERS, serviceLifecycleSuite } from '@chute/testing';

serviceLifecycleSuite('scheduler', { badConfig: [BAD_BROKERS] });
