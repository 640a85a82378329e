import { serviceLifecycleSuite } from '@chute/testing';

serviceLifecycleSuite('scheduler', { usesDatabase: false });
