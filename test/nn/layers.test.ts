// Every src/nn layer against PyTorch 1.13 (reference/make_nn_fixtures.py writes test/fixtures/nn/):
// outputs, and the gradients of loss = Σ output · R with respect to the inputs and every trainable
// parameter, run forward and backward (autodiff) through ONNX Runtime in float32.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as F from '../../src/engine/api.ts';
import { grad } from '../../src/engine/autodiff.ts';
import { type DType, Graph, type Tensor } from '../../src/engine/graph.ts';
import { ParamStore } from '../../src/engine/params.ts';
import type { HostTensor } from '../../src/engine/runtime.ts';
import { Program } from '../../src/engine/session.ts';
import { multiHeadSelfAttention } from '../../src/nn/attention.ts';
import { conv2d, embedding, gelu, linear, swish } from '../../src/nn/layers.ts';
import { crossEntropy } from '../../src/nn/losses.ts';
import { batchNorm, groupNorm, layerNorm } from '../../src/nn/norm.ts';
import { Scope } from '../../src/nn/scope.ts';

/**
 * A value passes when |ours − torch| ≤ ATOL + RTOL·|torch|. The fixture is computed in float64 from
 * float32 inputs, so this bounds our float32 error alone. Each tensor prints the fraction of this
 * allowance it uses; the worst is about 0.15 (GroupNorm's input gradient, values up to ~10³ where
 * a group's variance is near eps).
 */
const ATOL = 1e-5;
const RTOL = 1e-4;

interface FixtureTensor {
  shape: number[];
  dtype: 'float32' | 'int64';
  data: number[];
}
type Named = Record<string, FixtureTensor>;
interface Fixture {
  torch: string;
  case: string;
  config: Record<string, number | boolean | number[]>;
  params: Named;
  trainable: string[];
  inputs: Named;
  outputs: Named;
  lossWeights: Named;
  loss: number;
  grads: Named;
}

type Layer = (s: Scope, inputs: Record<string, Tensor>, cfg: Fixture['config']) => Record<string, Tensor>;
const num = (v: Fixture['config'][string]) => v as number;

/** How each fixture case is built from unmask's nn functions; the outputs are named as in the fixture. */
const LAYERS: Record<string, Layer> = {
  linear: (s, { x }, c) => ({ y: linear(s, x, num(c.in), num(c.out)) }),
  conv2d: (s, { x }, c) => ({ y: conv2d(s, x, num(c.in), num(c.out), num(c.k), { stride: num(c.stride), padding: num(c.padding) }) }),
  // VQGAN Downsample: zero pad right and bottom by 1, then conv3×3 stride 2 without padding.
  conv2d_downsample: (s, { x }, c) => ({
    y: conv2d(s.sub('conv'), x, num(c.in), num(c.out), num(c.k), { stride: num(c.stride), padding: c.padding as [number, number, number, number] }),
  }),
  // The norms run with their default groups and eps, which must be the fixture's (VQGAN's 32 and 1e-6
  // for GroupNorm, PyTorch's 1e-5 for the others); some inputs have variances near eps.
  group_norm: (s, { x }, c) => ({ y: groupNorm(s, x, num(c.channels)) }),
  layer_norm: (s, { x }, c) => ({ y: layerNorm(s, x, num(c.dim)) }),
  batch_norm_train: (s, { x }, c) => {
    const { y, batchMean, batchVar } = batchNorm(s, x, num(c.channels), true);
    return { y, batch_mean: batchMean!, batch_var: batchVar! };
  },
  batch_norm_eval: (s, { x }, c) => ({ y: batchNorm(s, x, num(c.channels), false).y }),
  attention: (s, { x }, c) => ({ y: multiHeadSelfAttention(s, x, num(c.dim), num(c.heads)) }),
  attention_causal: (s, { x }, c) => ({ y: multiHeadSelfAttention(s, x, num(c.dim), num(c.heads), { causal: true }) }),
  cross_entropy: (_s, { logits, targets, mask }) => {
    const ce = crossEntropy(logits, targets, mask);
    return { ce, ce_sum: F.reshape(F.reduceSum(ce), [1]) };
  },
  gelu: (_s, { x }) => ({ y: gelu(x) }),
  swish: (_s, { x }) => ({ y: swish(x) }),
  embedding: (s, { indices }, c) => ({ y: embedding(s, indices, num(c.num), num(c.dim)) }),
};

function host(t: FixtureTensor): HostTensor {
  const data = t.dtype === 'int64' ? BigInt64Array.from(t.data, (v) => BigInt(v)) : Float32Array.from(t.data);
  return { dtype: t.dtype as DType, shape: t.shape, data };
}

/** Largest |ours − ref|, and the largest fraction of the allowed ATOL + RTOL·|ref| that any element uses (≤ 1 passes). */
function compare(ours: ArrayLike<number>, ref: ArrayLike<number>): { abs: number; used: number } {
  if (ours.length !== ref.length) return { abs: Infinity, used: Infinity };
  let abs = 0;
  let used = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i] - ref[i]);
    abs = Math.max(abs, d);
    used = Math.max(used, Number.isNaN(d) ? Infinity : d / (ATOL + RTOL * Math.abs(ref[i])));
  }
  return { abs, used };
}

/** Builds the case's graph: its layer, loss = Σ output · R, and gradients for every tensor the fixture has one for. */
function build(fx: Fixture): { graph: Graph; outputs: Record<string, Tensor> } {
  const graph = new Graph();
  const inputs = Object.fromEntries(Object.entries(fx.inputs).map(([k, t]) => [k, graph.input(k, t.shape, t.dtype)]));
  const produced = LAYERS[fx.case](new Scope(graph), inputs, fx.config);
  const terms = Object.entries(fx.lossWeights).map(([k, r]) => F.reduceSum(F.mul(produced[k], graph.input(`R.${k}`, r.shape))));
  const loss = terms.reduce((a, b) => F.add(a, b));
  const wrt = Object.keys(fx.grads).map((k) => inputs[k] ?? graph.params.get(k)?.tensor);
  expect(wrt.every((t) => t !== undefined), `every gradient in the fixture names an input or parameter`).toBe(true);
  const grads = grad(loss, wrt as Tensor[]);
  const outputs: Record<string, Tensor> = { ...produced, loss };
  Object.keys(fx.grads).forEach((k, i) => (outputs[`grad:${k}`] = grads[i]));
  return { graph, outputs };
}

const dir = new URL('../fixtures/nn/', import.meta.url);
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as Fixture);

describe(`nn layers vs torch ${fixtures[0]?.torch} (|Δ| ≤ ${ATOL} + ${RTOL}·|torch|)`, () => {
  it('has a builder for every fixture and a fixture for every builder', () => {
    expect(fixtures.map((f) => f.case).sort()).toEqual(Object.keys(LAYERS).sort());
  });

  for (const fx of fixtures) {
    it(`${fx.case} ${JSON.stringify(fx.config)}: outputs and gradients`, async () => {
      const { graph, outputs } = build(fx);
      // Parameter names are the PyTorch state-dict keys, so the fixture's dict loads as it is.
      expect([...graph.params.keys()].sort()).toEqual(Object.keys(fx.params).sort());
      expect([...graph.params.values()].filter((p) => p.trainable).map((p) => p.name).sort()).toEqual([...fx.trainable].sort());
      const params = new ParamStore();
      for (const [k, t] of Object.entries(fx.params)) params.set(k, t.shape, Float32Array.from(t.data));
      params.assertCovers(graph);

      const feeds: Record<string, HostTensor> = {};
      for (const [k, t] of Object.entries(fx.inputs)) feeds[k] = host(t);
      for (const [k, t] of Object.entries(fx.lossWeights)) feeds[`R.${k}`] = host(t);
      const program = await Program.compile(graph, { outputs, threads: 1 });
      const got = await program.run(feeds, params);
      await program.release();

      const expected: [string, FixtureTensor][] = [
        ...Object.entries(fx.outputs),
        ['loss', { shape: [], dtype: 'float32', data: [fx.loss] }],
        ...Object.entries(fx.grads).map(([k, t]): [string, FixtureTensor] => [`grad:${k}`, t]),
      ];
      const failed: string[] = [];
      for (const [name, ref] of expected) {
        const ours = got[name];
        expect(ours.shape, `${fx.case} ${name} shape`).toEqual(ref.shape);
        const r = compare(ours.data as Float32Array, ref.data);
        const ok = r.used <= 1;
        console.log(`${fx.case.padEnd(18)} ${name.padEnd(20)} max|Δ| ${r.abs.toExponential(2)}  tolerance used ${r.used.toFixed(3)}${ok ? '' : '  FAIL'}`);
        if (!ok) failed.push(name);
      }
      expect(failed, `${fx.case}: tensors outside tolerance`).toEqual([]);
    });
  }
});

// Inference graphs (Scope with an inference precision) may use kernels without gradient rules: fused
// attention (ORT MultiHeadAttention) and GroupNorm through one InstanceNormalization. Their outputs
// must match the same PyTorch fixtures within the same tolerance.
describe(`nn layers in fp32 inference graphs vs torch (|Δ| ≤ ${ATOL} + ${RTOL}·|torch|)`, () => {
  for (const fx of fixtures.filter((f) => f.case === 'group_norm' || f.case === 'attention')) {
    it(`${fx.case}: outputs`, async () => {
      const graph = new Graph();
      const inputs = Object.fromEntries(Object.entries(fx.inputs).map(([k, t]) => [k, graph.input(k, t.shape, t.dtype)]));
      const produced = LAYERS[fx.case](new Scope(graph, '', 'fp32'), inputs, fx.config);
      const params = new ParamStore();
      for (const [k, t] of Object.entries(fx.params)) params.set(k, t.shape, Float32Array.from(t.data));
      const program = await Program.compile(graph, { outputs: produced, bake: params, threads: 1 });
      const got = await program.run(Object.fromEntries(Object.entries(fx.inputs).map(([k, t]) => [k, host(t)])));
      await program.release();
      for (const [name, ref] of Object.entries(fx.outputs)) {
        const r = compare(got[name].data as Float32Array, ref.data);
        console.log(`${fx.case.padEnd(18)} inference ${name.padEnd(10)} max|Δ| ${r.abs.toExponential(2)}  tolerance used ${r.used.toFixed(3)}`);
        expect(r.used, `${fx.case} ${name}`).toBeLessThanOrEqual(1);
      }
    });
  }
});
