#!/usr/bin/env node
// An installed package runs the compiled CLI in dist/. A development checkout (src/ present, no
// dist/ needed) runs the TypeScript sources through tsx, a devDependency, so edits take effect
// without a build and a stale dist/ is never what a test exercises.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(sources.href));
} else {
  ({ main } = await import('../dist/cli/main.js'));
}
process.exitCode = await main(process.argv);
