// Bundles one service into dist/services/<name>/main.js. Workspace packages
// (@chute/*) are compiled in; npm dependencies stay external so the deployed
// service loads the same versions the lockfile pins.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const [projectRoot, name] = process.argv.slice(2);
if (!projectRoot || !name) {
  console.error('usage: node tools/build.mjs <projectRoot> <name>');
  process.exit(1);
}
const rootPkg = JSON.parse(readFileSync('package.json', 'utf8'));
const external = Object.keys(rootPkg.dependencies ?? {});

await build({
  entryPoints: [path.join(projectRoot, 'src/main.ts')],
  outfile: path.join('dist/services', name, 'main.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  external,
  logLevel: 'warning',
});
console.log(`built dist/services/${name}/main.js`);
