// The seed's "Consuming Streams" TypeScript example, unchanged but for its imports.
import { hatchet } from './client';
import { streamingTask } from './task';

async function main() {
  const ref = await streamingTask.runNoWait({});
  const id = await ref.getWorkflowRunId();

  for await (const content of hatchet.runs.subscribeToStream(id)) {
    process.stdout.write(content);
  }
}

main();
