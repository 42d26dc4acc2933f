#!/usr/bin/env node
// The `unmask` command. An installed package runs its compiled CLI (dist/); a checkout, where src/ sits
// beside this folder, runs the TypeScript sources through tsx, so development needs no build step.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/cli/main.js'));
}
process.exitCode = await main(process.argv);
