#!/usr/bin/env node
// The `unmask` command. unmask has no build step: tsx compiles src/ as it is imported.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
