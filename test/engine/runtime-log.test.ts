// ONNX Runtime's own log lines do not leak: before, a failing run printed ORT's coloured
// "[E:onnxruntime:…]" line on stderr beside the error unmask reported. Run in a child process, since
// ORT writes to the process's stderr directly.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const script = `
import { setRuntime } from './src/engine/runtime.ts';
import { nodeRuntime } from './src/engine/runtime-node.ts';
import { Graph } from './src/engine/graph.ts';
import * as F from './src/engine/api.ts';
import { Program } from './src/engine/session.ts';
setRuntime(nodeRuntime);
const g = new Graph();
g.output('y', F.gather(g.input('t', [4]), g.input('i', [2], 'int64'), 0));
const p = await Program.compile(g);
await p.run({ t: new Float32Array(4), i: new BigInt64Array([1n, 9n]) }).catch((e) => console.log('error:', e.message));
`;

describe('ONNX Runtime logging', () => {
  it('an ORT failure is said once, as our error, with nothing from ORT on stderr', async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 60_000 });
    expect(stdout).toMatch(/^error: ONNX Runtime: Non-zero status code returned while running Gather node/);
    expect(stderr).not.toMatch(/onnxruntime/);
  });
});
