// A worker for the seed's task, as Hatchet's TypeScript examples start one.
import { hatchet } from './client';
import { streamingTask } from './task';

async function main() {
  const worker = await hatchet.worker('streaming-worker', {
    workflows: [streamingTask],
  });

  await worker.start();
}

if (require.main === module) {
  main();
}
