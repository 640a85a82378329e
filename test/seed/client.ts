// The seed's examples construct `hatchet`; ours is a Chute client under the same
// name, configured from the environment (CHUTE_GATEWAY_URL, CHUTE_KAFKA_BROKERS,
// CHUTE_TOPIC_PREFIX). This file and the imports are all that differs from the seed.
import { Chute } from '@chute/sdk';

export const hatchet = Chute.init();
