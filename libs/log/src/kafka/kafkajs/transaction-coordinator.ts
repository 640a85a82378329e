// kafkajs 2.2.4 asks the broker where a transaction's coordinator is before
// every AddPartitionsToTxn and before every EndTxn (eosManager's
// findTransactionCoordinator sends FindCoordinator each time; it caches
// nothing). A transaction of one produce then costs five requests instead of
// three, and two more round trips on the scheduler's path from trigger to
// dispatch. Measured here: 1.97 FindCoordinator requests per run at 100 runs/s,
// an eighth of every request the platform sent.
//
// This remembers, on each kafkajs Cluster (one per producer), the coordinator
// broker of each transactional id. A call through the remembered broker that
// fails other than by the coordinator's own answer (CONCURRENT_TRANSACTIONS
// comes back between every two back-to-back transactions) forgets it, so the
// retry kafkajs makes next looks the coordinator up again, as it always did: a
// coordinator that moved (NOT_COORDINATOR) or a broker that went away costs one
// failed request, then the usual path.
import { isAnswerFromCoordinator } from '../errors';

/** kafkajs's internal class (no types ship for it); kafkajs is pinned, so its path is known. */
const Cluster = require('kafkajs/src/cluster/index.js') as { prototype: object };
const COORDINATOR_TYPES = require('kafkajs/src/protocol/coordinatorTypes.js') as { TRANSACTION: number };

interface LookUp {
  groupId: string;
  coordinatorType?: number;
}

type FindGroupCoordinator = (this: object, lookUp: LookUp) => Promise<object>;

const remembered = new WeakMap<object, Map<string, Promise<object>>>();

/** `broker`, with a failed call making its cluster forget it, unless the coordinator itself answered. */
function forgetOnFailure(broker: object, forget: () => void): object {
  const failed = (error: unknown): void => {
    if (!isAnswerFromCoordinator(error)) forget();
  };
  return new Proxy(broker, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        try {
          const result: unknown = value.apply(target, args);
          return result instanceof Promise ? result.catch((error: unknown) => (failed(error), Promise.reject(error))) : result;
        } catch (error) {
          failed(error);
          throw error;
        }
      };
    },
  });
}

export function rememberingFindGroupCoordinator(original: FindGroupCoordinator): FindGroupCoordinator {
  return function (this: object, lookUp: LookUp): Promise<object> {
    if (lookUp.coordinatorType !== COORDINATOR_TYPES.TRANSACTION) return original.call(this, lookUp);
    let byId = remembered.get(this);
    if (!byId) remembered.set(this, (byId = new Map()));
    const known = byId.get(lookUp.groupId);
    if (known) return known;
    const map = byId;
    // Only this look-up's own entry: a newer one may have replaced it meanwhile.
    const forget = (): void => {
      if (map.get(lookUp.groupId) === found) map.delete(lookUp.groupId);
    };
    const found: Promise<object> = original.call(this, lookUp).then((broker) => forgetOnFailure(broker, forget));
    // A failed look-up is not remembered: the next call asks the broker again.
    found.catch(forget);
    map.set(lookUp.groupId, found);
    return found;
  };
}

let patched = false;

/** Installs the cache once per process; kafkajs is pinned, so the method it wraps is known. */
export function patchKafkajsTransactionCoordinator(): void {
  if (patched) return;
  const proto = Cluster.prototype as { findGroupCoordinator?: FindGroupCoordinator };
  if (typeof proto.findGroupCoordinator !== 'function') {
    throw new Error('kafkajs Cluster has no findGroupCoordinator: the pinned kafkajs changed; review this patch');
  }
  proto.findGroupCoordinator = rememberingFindGroupCoordinator(proto.findGroupCoordinator);
  patched = true;
}
