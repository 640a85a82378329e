import path from 'node:path';
import { buildSync } from 'esbuild';

const BROWSER = path.join(__dirname, 'browser');

/**
 * The dashboard's script: browser/dashboard.ts compiled for the browser into
 * one file, an IIFE, so nothing of it leaks into the page's globals.
 * tools/build.mjs runs this module when it builds the gateway and puts the
 * text into main.js (nothing to find at run time, and esbuild stays a dev
 * dependency); run from source, as `npm start` does, it compiles on import (the dashboard imports it at its first request).
 */
export const DASHBOARD_JS: string = buildSync({
  entryPoints: [path.join(BROWSER, 'dashboard.ts')],
  tsconfig: path.join(BROWSER, 'tsconfig.json'),
  // esbuild heads the output with the entry's path relative to this: the same text wherever the build runs.
  absWorkingDir: __dirname,
  bundle: true,
  format: 'iife',
  // Every browser with replaceChildren, which the page needs anyway, runs ES2020.
  target: 'es2020',
  write: false,
  logLevel: 'warning',
}).outputFiles[0]!.text;
