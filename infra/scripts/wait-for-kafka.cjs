// Waits until a Kafka-protocol broker answers a metadata request and every
// partition it holds has a leader. A broker restarted on kept data answers
// metadata before it has recovered its logs and led its partitions again;
// clients that start then meet LEADER_NOT_AVAILABLE and NOT_COORDINATOR.
// usage: node wait-for-kafka.cjs <brokers> <timeout seconds>
const { Kafka, logLevel } = require('kafkajs');

const [brokers, timeoutSeconds = '60'] = process.argv.slice(2);
const deadline = Date.now() + Number(timeoutSeconds) * 1000;

// Every topic, __consumer_offsets included (consumer groups need its leaders).
async function leaderless(admin) {
  const topics = await admin.listTopics();
  if (topics.length === 0) return [];
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
  return metadata.flatMap((t) =>
    t.partitions.filter((p) => p.partitionErrorCode !== 0 || p.leader < 0).map((p) => `${t.name}/${p.partitionId}`),
  );
}

async function main() {
  let waitingFor = 'an answer';
  for (;;) {
    const admin = new Kafka({ clientId: 'chute-infra', brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
    try {
      await admin.connect();
      const missing = await leaderless(admin);
      await admin.disconnect();
      if (missing.length === 0) return;
      waitingFor = `leaders for ${missing.length} partitions (e.g. ${missing.slice(0, 3).join(', ')})`;
    } catch (error) {
      await admin.disconnect().catch(() => undefined);
      waitingFor = `an answer (${error.message})`;
    }
    if (Date.now() > deadline) throw new Error(`still waiting for ${waitingFor}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`broker ${brokers} is not ready: ${error.message}`);
    process.exit(1);
  },
);
