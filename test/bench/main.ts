// `npm run bench`: every benchmark, one after the other (never two at once: 2 cores).
import { runsBench } from './runs.bench';

async function main(): Promise<void> {
  console.log(`bench: machine: ${(await import('node:os')).cpus().length} cores, node ${process.version}`);
  await runsBench();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
