// Bare produce -> consume pipes on the real broker, one per Kafka client: the
// floor under Chute's stream path (which is a produce in the worker and a
// consume in the gateway). Each owns a fresh one-partition topic.
import { Admin, Consumer, Producer, ProduceAcks, stringDeserializers, stringSerializers } from '@platformatic/kafka';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { installKafkajsPatches, noDelaySocketFactory } from '@chute/log';
import { testBrokers, uniqueName } from '@chute/testing';

/** The platform's consumers wait at most this long in a fetch; the floors use the same. */
const MAX_WAIT_MS = 250;

export interface Pipe {
  readonly client: string;
  /** Produces the values in one request, acknowledged by the broker (acks = all). */
  send(values: readonly string[]): Promise<void>;
  /** Called with each value consumed, in order. */
  onValue: (value: string) => void;
  close(): Promise<void>;
}

export async function kafkajsPipe(): Promise<Pipe> {
  // The same kafkajs patches and TCP_NODELAY sockets the platform runs with, so the floor is the same client.
  installKafkajsPatches();
  const kafka = new Kafka({ clientId: 'bench-floor', brokers: testBrokers(), logLevel: logLevel.NOTHING, socketFactory: noDelaySocketFactory });
  const topic = uniqueName('bench-floor-kafkajs');
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = kafka.consumer({ groupId: uniqueName('bench-floor'), maxWaitTimeInMs: MAX_WAIT_MS });
  await Promise.all([producer.connect(), consumer.connect()]);
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  const pipe: Pipe = {
    client: 'kafkajs',
    onValue: () => undefined,
    send: async (values) => {
      await producer.send({ topic, acks: -1, messages: values.map((value) => ({ key: 'floor', value })) });
    },
    close: async () => {
      await consumer.disconnect();
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    },
  };
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ message }) => pipe.onValue(String(message.value)),
  });
  await joined;
  return pipe;
}

export async function platformaticPipe(): Promise<Pipe> {
  const bootstrapBrokers = testBrokers();
  const topic = uniqueName('bench-floor-platformatic');
  const admin = new Admin({ clientId: 'bench-floor', bootstrapBrokers });
  await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
  const producer = new Producer({ clientId: 'bench-floor', bootstrapBrokers, serializers: stringSerializers, acks: ProduceAcks.ALL });
  const consumer = new Consumer({ clientId: 'bench-floor', groupId: uniqueName('bench-floor'), bootstrapBrokers, deserializers: stringDeserializers, maxWaitTime: MAX_WAIT_MS });
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: MAX_WAIT_MS });
  const pipe: Pipe = {
    client: '@platformatic/kafka',
    onValue: () => undefined,
    send: async (values) => {
      await producer.send({ messages: values.map((value) => ({ topic, key: 'floor', value })) });
    },
    close: async () => {
      await stream.close();
      await consumer.close(true);
      await producer.close();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.close();
    },
  };
  stream.on('data', (message: { value: string }) => pipe.onValue(message.value));
  // The stream starts consuming once the group is joined: a first message round trip proves it.
  await new Promise<void>((resolve) => {
    pipe.onValue = () => resolve();
    void pipe.send(['warm-up']);
  });
  pipe.onValue = () => undefined;
  return pipe;
}
