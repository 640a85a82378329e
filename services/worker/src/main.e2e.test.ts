import { serviceLifecycleSuite } from '@chute/testing';

serviceLifecycleSuite('worker', { usesDatabase: false });
