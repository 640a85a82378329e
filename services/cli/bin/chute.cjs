#!/usr/bin/env node
// The `chute` command, run from the checkout's TypeScript sources (`npx chute ...`).
require('tsx/cjs/api').register();
require('../src/main.ts');
