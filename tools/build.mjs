// Bundles one service into dist/services/<name>/main.js. Workspace packages
// (@chute/*) are compiled in; npm dependencies stay external so the deployed
// service loads the same versions the lockfile pins.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { require as tsRequire } from 'tsx/cjs/api';

const [projectRoot, name] = process.argv.slice(2);
if (!projectRoot || !name) {
  console.error('usage: node tools/build.mjs <projectRoot> <name>');
  process.exit(1);
}
const rootPkg = JSON.parse(readFileSync('package.json', 'utf8'));
const external = Object.keys(rootPkg.dependencies ?? {});

// A `*.build-time.ts` module runs here, and the bundle holds the values it
// exports instead of its code: work that needs dev tools (the gateway compiles
// its dashboard's browser script) is done once, at build. Run from source
// (tsx), such a module runs on import like any other.
const buildTime = {
  name: 'build-time',
  setup(bundle) {
    bundle.onLoad({ filter: /\.build-time\.ts$/ }, (args) => {
      const exported = Object.entries(tsRequire(args.path, import.meta.url)).map(([name, value]) => {
        const json = JSON.stringify(value);
        if (json === undefined) throw new Error(`${args.path}: ${name} is not a JSON value, so it cannot be built in`);
        return `export const ${name} = ${json};`;
      });
      return { contents: exported.join('\n'), loader: 'js' };
    });
  },
};

await build({
  entryPoints: [path.join(projectRoot, 'src/main.ts')],
  outfile: path.join('dist/services', name, 'main.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  external,
  plugins: [buildTime],
  logLevel: 'warning',
});
console.log(`built dist/services/${name}/main.js`);
