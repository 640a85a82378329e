/**
 * Classifying kafkajs errors by their types and protocol codes, never by their
 * messages. kafkajs wraps the broker's error in `cause` chains
 * (KafkaJSNumberOfRetriesExceeded) and, for several topics at once, in a
 * KafkaJSAggregateError's `errors`; both are walked.
 */
import { ConfigError } from '@chute/runtime';
import { type BrokerSasl } from '../settings';

/** The Kafka protocol error names kafkajs puts in an error's `type`. */
export type KafkaErrorType =
  | 'UNKNOWN_TOPIC_OR_PARTITION'
  | 'TOPIC_AUTHORIZATION_FAILED'
  | 'GROUP_AUTHORIZATION_FAILED'
  | 'CLUSTER_AUTHORIZATION_FAILED'
  | 'SASL_AUTHENTICATION_FAILED'
  | 'UNSUPPORTED_SASL_MECHANISM'
  | 'INVALID_PRODUCER_EPOCH'
  | 'INVALID_PRODUCER_ID_MAPPING'
  | 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'
  | 'NOT_COORDINATOR'
  | 'COORDINATOR_NOT_AVAILABLE'
  | 'COORDINATOR_LOAD_IN_PROGRESS';

interface KafkaJSErrorShape {
  readonly name?: unknown;
  readonly type?: unknown;
  readonly retriable?: unknown;
  readonly cause?: unknown;
  readonly errors?: unknown;
}

function* causes(error: unknown, depth = 0): Generator<KafkaJSErrorShape> {
  if (depth > 10 || typeof error !== 'object' || error === null) return;
  const e = error as KafkaJSErrorShape;
  yield e;
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* causes(inner, depth + 1);
  yield* causes(e.cause, depth + 1);
}

/** Whether the error, or one it wraps, is the broker's protocol error of this type. */
export function hasKafkaErrorType(error: unknown, type: KafkaErrorType): boolean {
  for (const e of causes(error)) if (e.type === type) return true;
  return false;
}

/**
 * Whether the error is a coordinator's answer about something other than where
 * the coordinator is (CONCURRENT_TRANSACTIONS, a fenced epoch...): the broker
 * that gave it is still the coordinator. A connection failure, a timeout or a
 * NOT_COORDINATOR-like answer says nothing of the kind.
 */
export function isAnswerFromCoordinator(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || (error as KafkaJSErrorShape).name !== 'KafkaJSProtocolError') return false;
  return !(['NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS'] as const).some((type) => hasKafkaErrorType(error, type));
}

/** Whether kafkajs marks the error retriable: the broker may answer differently in a moment. */
export function isRetriableKafkaError(error: unknown): boolean {
  for (const e of causes(error)) if (e.retriable === true || e.name === 'KafkaJSNumberOfRetriesExceeded') return true;
  return false;
}

/** One line for health reports: the error's name and message. */
export function describeKafkaError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * Whether the broker refused this client's SASL login: wrong credentials, or a
 * mechanism it does not enable. kafkajs raises KafkaJSSASLAuthenticationError
 * for both (it does not keep the broker's protocol error as its cause), and the
 * protocol error types where it passes the broker's answer on as it is.
 */
export function isKafkaAuthenticationError(error: unknown): boolean {
  for (const e of causes(error)) {
    if (e.name === 'KafkaJSSASLAuthenticationError') return true;
    if (e.type === 'SASL_AUTHENTICATION_FAILED' || e.type === 'UNSUPPORTED_SASL_MECHANISM') return true;
  }
  return false;
}

/**
 * The broker refused the SASL login. A `ConfigError`: retrying cannot help,
 * the operator must fix the credentials, so a service ends on its one-line
 * message. It names the user and the settings to check, never the password.
 */
export class KafkaAuthenticationError extends ConfigError {
  override readonly name = 'KafkaAuthenticationError';
  constructor(sasl: Pick<BrokerSasl, 'mechanism' | 'username' | 'settings'>, options?: { cause?: unknown }) {
    super(
      `kafka: authentication failed for user ${sasl.username} (SASL ${sasl.mechanism.toUpperCase()}): ` +
        `check ${sasl.settings ?? 'CHUTE_KAFKA_SASL_USERNAME / CHUTE_KAFKA_SASL_PASSWORD'}`,
      options,
    );
  }
}

/** The broker's refusals of a login that authenticated but lacks an ACL. */
const AUTHORIZATION_FAILURES = ['TOPIC_AUTHORIZATION_FAILED', 'GROUP_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'] as const;

/**
 * Whether a transactional producer was fenced: a newer producer initialised
 * its transactional id (the broker answers an old epoch with
 * INVALID_PRODUCER_EPOCH to kafkajs's request versions), or the id's producer
 * changed under it (INVALID_PRODUCER_ID_MAPPING).
 */
export function isKafkaFencedError(error: unknown): boolean {
  return hasKafkaErrorType(error, 'INVALID_PRODUCER_EPOCH') || hasKafkaErrorType(error, 'INVALID_PRODUCER_ID_MAPPING');
}

/** The authorization failure the error is or wraps, if any. */
export function kafkaAuthorizationFailure(error: unknown): (typeof AUTHORIZATION_FAILURES)[number] | undefined {
  return AUTHORIZATION_FAILURES.find((type) => hasKafkaErrorType(error, type));
}

/**
 * The broker took the login but refused what the service needs at start (its
 * topics, its producer): its principal lacks ACLs. A `ConfigError`: the
 * operator grants them, no retry can. Names the user and the broker's error.
 */
export class KafkaAuthorizationError extends ConfigError {
  override readonly name = 'KafkaAuthorizationError';
  constructor(username: string | undefined, what: string, failure: string, options?: { cause?: unknown }) {
    super(
      `kafka: ${username !== undefined ? `user ${username}` : 'this client'} may not ${what} (${failure}): ` +
        "grant the service's ACLs (npx chute acls print)",
      options,
    );
  }
}
