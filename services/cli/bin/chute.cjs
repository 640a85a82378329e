#!/usr/bin/env node
// The `chute` command, run from the checkout's TypeScript sources (`npx chute ...`).
// Node runs TypeScript through tsx's loader, which must be given at start
// (--import): so this starts node once more with it, in the foreground, and
// exits as that does. A Ctrl-C reaches both (one terminal process group): this
// one leaves it to the child, which stops cleanly; a SIGTERM sent to this one
// alone is passed on.
const { spawn } = require('node:child_process');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const loader = pathToFileURL(path.join(path.dirname(require.resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;
const main = path.join(__dirname, '..', 'src', 'main.ts');
const child = spawn(process.execPath, ['--import', loader, main, ...process.argv.slice(2)], { stdio: 'inherit' });
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
