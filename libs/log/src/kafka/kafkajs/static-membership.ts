// kafkajs 2.2.4 has no static membership (KIP-345): its JoinGroup never sends a
// group.instance.id, although its own JoinGroup v5 request encodes one. So a
// consumer that was killed and restarted joins as a new member, and its group
// waits for the dead member's session to time out (10 s) before anyone reads
// its partitions again. With an instance id, the coordinator recognises the
// restarted process as the same member: it takes the dead member's place, and
// its partitions, at once, with no rebalance while the group is stable.
//
// Only JoinGroup needs the id: the coordinator checks it on SyncGroup,
// Heartbeat and OffsetCommit only when the request carries one, and a static
// member may still leave with LeaveGroup by member id, which kafkajs sends on a
// clean stop, so a scale-down rebalances at once as before.

import { ConfigError } from '@chute/runtime';

interface JoinGroupArgs {
  groupId: string;
  sessionTimeout: number;
  rebalanceTimeout: number;
  memberId?: string;
  protocolType?: string;
  groupProtocols: unknown;
}

interface BrokerInternals {
  joinGroup(args: JoinGroupArgs): Promise<unknown>;
  /** Set on each instance once it knows the broker's API versions. */
  lookupRequest(apiKey: number, definitions: unknown): (args: JoinGroupArgs & { groupInstanceId: string | null }) => unknown;
}

/** kafkajs's internal classes (no types ship for them); kafkajs is pinned, so their paths are known. */
const Broker = require('kafkajs/src/broker/index.js') as { prototype: BrokerInternals };
const { requests } = require('kafkajs/src/protocol/requests/index.js') as { requests: { JoinGroup: unknown } };
const apiKeys = require('kafkajs/src/protocol/requests/apiKeys.js') as { JoinGroup: number };

/** group id -> this process's instance id in it. One process is one instance. */
const instances = new Map<string, string>();

/**
 * Makes this process a static member of `groupId`, as `instanceId`, from its
 * next join on. Two members must never share an instance id: the coordinator
 * fences the older one.
 * @throws ConfigError when this process already joins the group under another id
 */
export function registerStaticMember(groupId: string, instanceId: string): void {
  const known = instances.get(groupId);
  if (known !== undefined && known !== instanceId) {
    throw new ConfigError(`consumer group ${groupId}: this process is already its member ${known}, not ${instanceId}`);
  }
  instances.set(groupId, instanceId);
  patch();
}

let patched = false;

function patch(): void {
  if (patched) return;
  const original = Broker.prototype.joinGroup;
  if (typeof original !== 'function') throw new Error('kafkajs Broker has no joinGroup: the pinned kafkajs changed; review this patch');
  Broker.prototype.joinGroup = async function joinGroup(this: BrokerInternals & Record<symbol, unknown>, args: JoinGroupArgs) {
    const groupInstanceId = instances.get(args.groupId);
    if (groupInstanceId === undefined) return original.call(this, args);
    const joinGroupRequest = this.lookupRequest(apiKeys.JoinGroup, requests.JoinGroup);
    const send = sendRequestOf(this);
    const request = (memberId: string) =>
      send(joinGroupRequest({ ...args, memberId, protocolType: args.protocolType ?? 'consumer', groupInstanceId }));
    try {
      return await request(args.memberId ?? '');
    } catch (error) {
      // As kafkajs's own joinGroup: a broker that wants the member id it assigned asked for again.
      const required = error as { name?: string; memberId?: string };
      if (required.name === 'KafkaJSMemberIdRequired' && required.memberId) return request(required.memberId);
      throw error;
    }
  };
  patched = true;
}

/** kafkajs sends a built request through a method keyed by a private symbol: find it by its name. */
function sendRequestOf(broker: Record<symbol, unknown>): (request: unknown) => Promise<unknown> {
  const proto = Object.getPrototypeOf(broker) as Record<symbol, unknown>;
  const key = Object.getOwnPropertySymbols(proto).find((symbol) => symbol.description === 'private:Broker:sendRequest');
  const send = key === undefined ? undefined : proto[key];
  if (typeof send !== 'function') throw new Error('kafkajs Broker has no private sendRequest: the pinned kafkajs changed; review the static-membership patch');
  return (request) => (send as (r: unknown) => Promise<unknown>).call(broker, request);
}
