import { serviceLifecycleSuite } from '@chute/testing';

serviceLifecycleSuite('projector', { usesDatabase: true });
