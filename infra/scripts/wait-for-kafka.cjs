// Waits until a Kafka-protocol broker answers a metadata request.
// usage: node wait-for-kafka.cjs <brokers> <timeout seconds>
const { Kafka, logLevel } = require('kafkajs');

const [brokers, timeoutSeconds = '60'] = process.argv.slice(2);
const deadline = Date.now() + Number(timeoutSeconds) * 1000;

async function main() {
  for (;;) {
    const admin = new Kafka({ clientId: 'chute-infra', brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
    try {
      await admin.connect();
      await admin.listTopics();
      await admin.disconnect();
      return;
    } catch (error) {
      await admin.disconnect().catch(() => undefined);
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`broker ${brokers} did not answer: ${error.message}`);
    process.exit(1);
  },
);
