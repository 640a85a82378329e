// Everything Chute changes in kafkajs, behind one entry point. The patches
// reach into kafkajs's internal modules (src/...), whose paths and methods only
// hold for the version they were written against: installKafkajsPatches checks
// that version once, so an upgrade fails at start with this file's name rather
// than somewhere inside a fetch loop.
import { patchKafkajsRequestQueue } from './request-queue';
import { patchKafkajsSendMessages } from './send-messages';
import { patchKafkajsTransactionCoordinator } from './transaction-coordinator';

export { registerLinger } from './adaptive-linger';
export { FastDefaultPartitioner } from './partitioner';
export { RequestCountingKafka } from './request-counter';
export { registerStaticMember } from './static-membership';

/** The kafkajs every patch here was written and tested against (package.json pins it). */
export const PATCHED_KAFKAJS_VERSION = '2.2.4';

/** Raised when the installed kafkajs is not the one the patches were written for. */
export class UnpatchedKafkajsError extends Error {
  override readonly name = 'UnpatchedKafkajsError';
  constructor(readonly installed: string) {
    super(`kafkajs ${installed} is installed; libs/log/src/kafka/kafkajs/ patches ${PATCHED_KAFKAJS_VERSION}: review each patch against it, then change PATCHED_KAFKAJS_VERSION`);
  }
}

let installed = false;

/** Checks kafkajs's version and installs the process-wide fixes, once per process. */
export function installKafkajsPatches(): void {
  if (installed) return;
  const { version } = require('kafkajs/package.json') as { version: string };
  if (version !== PATCHED_KAFKAJS_VERSION) throw new UnpatchedKafkajsError(version);
  patchKafkajsRequestQueue();
  patchKafkajsTransactionCoordinator();
  patchKafkajsSendMessages();
  installed = true;
}
