// `npm run bench`: every benchmark, one after the other (never two at once: 2 cores).
// `npm run bench -- runs` or `-- stream` runs one of them.
import { cpus } from 'node:os';
import { runsBench } from './runs.bench';
import { streamBench } from './stream.bench';
import { takeoverBench } from './takeover.bench';

const benches: Record<string, () => Promise<void>> = { runs: runsBench, stream: streamBench, takeover: takeoverBench };

async function main(): Promise<void> {
  const chosen = process.argv.slice(2);
  const unknown = chosen.filter((name) => !(name in benches));
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')}: choose from ${Object.keys(benches).join(', ')}`);
  console.log(`bench: machine: ${cpus().length} cores, node ${process.version}`);
  for (const [name, bench] of Object.entries(benches)) if (chosen.length === 0 || chosen.includes(name)) await bench();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
