// Every graph unmask emits is a standalone .onnx model: the same bytes run in onnxruntime-web (wasm, as
// in a browser) and give onnxruntime-node's results.
import { describe, expect, it } from 'vitest';
import { Graph } from '../../src/engine/graph.ts';
import * as F from '../../src/engine/api.ts';
import { grad } from '../../src/engine/autodiff.ts';
import { ParamStore } from '../../src/engine/params.ts';
import { Rng } from '../../src/engine/rng.ts';
import { nodeRuntime } from '../../src/engine/runtime-node.ts';
import { webRuntime } from '../../src/engine/runtime-web.ts';
import { quantizedParams } from '../../src/engine/quantize.ts';
import { Program } from '../../src/engine/session.ts';
import { Scope } from '../../src/nn/scope.ts';
import { transformer } from '../../src/models/transformer.ts';
import { encoder } from '../../src/models/vqgan.ts';
import { parseVqganConfig } from '../../src/models/vqgan-config.ts';

const TOL = 1e-4;

async function both(model: Uint8Array, feeds: Record<string, { dtype: 'float32' | 'int64'; shape: number[]; data: Float32Array | BigInt64Array }>) {
  const results = [];
  for (const rt of [nodeRuntime, webRuntime(['wasm'])]) {
    const s = await rt.createSession(model, { threads: 1 });
    results.push(await s.run(feeds));
    await s.release();
  }
  return results;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('onnxruntime-web', () => {
  // null: the differentiable graph; fp32 and int8: the inference graphs sampling runs (fused attention,
  // int8 linears), contrib ops that the web build must have too
  const prior = (inference: 'fp32' | 'int8' | null) => {
    const g = new Graph();
    g.output('logits', transformer(new Scope(g, '', inference), g.input('tokens', [2, 16], 'int64'), { codebookSize: 32, blockSize: 16, dim: 32, layers: 2, heads: 4, causal: false, classes: 0 }));
    return g;
  };
  const params = ParamStore.init(prior(null), new Rng(1));
  for (const inference of [null, 'fp32', 'int8'] as const) {
    it(`runs a baked prior forward graph like onnxruntime-node (${inference ?? 'differentiable'} graph)`, async () => {
      const g = prior(inference);
      const p = await Program.compile(g, { bake: inference === 'int8' ? quantizedParams(params, g) : params });
      const data = BigInt64Array.from({ length: 32 }, (_, i) => BigInt((i * 7) % 33));
      const [a, b] = await both(p.model, { tokens: { dtype: 'int64', shape: [2, 16], data } });
      const d = maxDiff(a.logits.data as Float32Array, b.logits.data as Float32Array);
      console.log(`prior logits (${inference ?? 'differentiable'} graph) node vs web: max |Δ| ${d.toExponential(2)} (tolerance ${TOL})`);
      expect(d).toBeLessThan(TOL);
      await p.release();
    });
  }

  it('runs a training graph (VQGAN encoder loss and gradients) like onnxruntime-node', async () => {
    const c = parseVqganConfig({ channels: 1, imageSize: 16, nf: 32, chMult: [1, 1], resBlocks: 1, attnResolutions: [8], codebookSize: 8, embDim: 4, discLayers: 2 });
    const g = new Graph();
    const x = g.input('x', [2, 1, 16, 16]);
    const z = encoder(new Scope(g).sub('encoder'), x, c);
    const loss = F.reduceMean(F.square(z));
    const w = g.params.get('encoder.blocks.0.weight')!.tensor;
    const [gw] = grad(loss, [w]);
    const params = ParamStore.init(g, new Rng(2));
    const p = await Program.compile(g, { outputs: { loss, gw }, bake: params });
    const xs = new Float32Array(512).map((_, i) => Math.sin(i));
    const [a, b] = await both(p.model, { x: { dtype: 'float32', shape: [2, 1, 16, 16], data: xs } });
    const dl = maxDiff(a.loss.data as Float32Array, b.loss.data as Float32Array);
    const dg = maxDiff(a.gw.data as Float32Array, b.gw.data as Float32Array);
    console.log(`encoder node vs web: loss max |Δ| ${dl.toExponential(2)}, gradient max |Δ| ${dg.toExponential(2)} (tolerance ${TOL})`);
    expect(dl).toBeLessThan(TOL);
    expect(dg).toBeLessThan(TOL);
    await p.release();
  });
});
