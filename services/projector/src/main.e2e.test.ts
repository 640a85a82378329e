import { BAD_BROKERS, BAD_DATABASE, serviceLifecycleSuite } from '@chute/testing';

serviceLifecycleSuite('projector', { badConfig: [BAD_BROKERS, BAD_DATABASE] });
