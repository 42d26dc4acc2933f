// The prior's transformer against PyTorch 1.13 (reference/make_transformer_fixture.py writes
// test/fixtures/transformer.json): the reference state dict loads by name, and logits, the
// cross-entropy and every parameter gradient match, for the bidirectional model and its causal twin.
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import * as F from '../../src/engine/api.ts';
import { Graph, sizeOf } from '../../src/engine/graph.ts';
import { ParamStore } from '../../src/engine/params.ts';
import { type Precision, quantizedParams } from '../../src/engine/quantize.ts';
import { Program } from '../../src/engine/session.ts';
import { TrainStep } from '../../src/engine/trainstep.ts';
import { TRANSFORMER_DEFAULTS, type TransformerConfig, transformer, transformerHead, transformerHidden } from '../../src/models/transformer.ts';
import { crossEntropy } from '../../src/nn/losses.ts';
import { Scope } from '../../src/nn/scope.ts';

/** |ours − torch| ≤ ATOL + RTOL·|torch|; the fixture is float64 from float32 values, so this bounds our float32 error. */
const ATOL = 1e-5;
const RTOL = 1e-4;

interface FixtureTensor {
  shape: number[];
  dtype: 'float32' | 'int64';
  data: number[];
}
interface Case {
  config: TransformerConfig;
  params: Record<string, FixtureTensor>;
  tokens: FixtureTensor;
  targets: FixtureTensor;
  logits: FixtureTensor;
  loss: number;
  grads: Record<string, FixtureTensor>;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/transformer.json', import.meta.url), 'utf8')) as {
  torch: string;
  cases: Record<string, Case>;
};

const ints = (t: FixtureTensor) => BigInt64Array.from(t.data, (v) => BigInt(v));

/** The largest fraction of the allowance any element uses (≤ 1 passes). */
function used(ours: ArrayLike<number>, ref: number[]): number {
  expect(ours.length).toBe(ref.length);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i] - ref[i]) / (ATOL + RTOL * Math.abs(ref[i])));
  return worst;
}

describe(`transformer vs torch ${fixture.torch} (|Δ| ≤ ${ATOL} + ${RTOL}·|torch|)`, () => {
  it('has the reference state-dict keys and ≈ 77 M parameters at the reference size', () => {
    const g = new Graph();
    transformer(new Scope(g), g.input('tokens', [1, TRANSFORMER_DEFAULTS.blockSize], 'int64'));
    const names = [...g.params.keys()];
    const block = (i: number) =>
      ['ln1.weight', 'ln1.bias', 'attn.query.weight', 'attn.query.bias', 'attn.key.weight', 'attn.key.bias', 'attn.value.weight', 'attn.value.bias', 'attn.proj.weight', 'attn.proj.bias', 'ln2.weight', 'ln2.bias', 'mlp.0.weight', 'mlp.0.bias', 'mlp.2.weight', 'mlp.2.bias'].map(
        (k) => `blocks.${i}.${k}`,
      );
    const expected = ['tok_emb.weight', 'pos_emb', ...[...Array(24).keys()].flatMap(block), 'ln_f.weight', 'ln_f.bias', 'head.weight'];
    expect(names.sort()).toEqual(expected.sort());
    const count = [...g.params.values()].reduce((n, p) => n + sizeOf(p.shape), 0);
    console.log(`reference size: ${names.length} tensors, ${(count / 1e6).toFixed(2)} M parameters`);
    expect(count).toBeGreaterThan(76.5e6);
    expect(count).toBeLessThan(77.5e6);
  });

  for (const [name, c] of Object.entries(fixture.cases)) {
    it(`${name} ${JSON.stringify(c.config)}: logits, loss and gradients`, async () => {
      const g = new Graph();
      const tokens = g.input('tokens', c.tokens.shape, 'int64');
      const targets = g.input('targets', c.targets.shape, 'int64');
      const logits = transformer(new Scope(g), tokens, c.config); // [B, n(+1), K]
      const loss = F.reduceMean(crossEntropy(logits, targets));
      expect([...g.params.keys()].sort()).toEqual(Object.keys(c.params).sort());
      const params = new ParamStore();
      for (const [k, t] of Object.entries(c.params)) params.set(k, t.shape, Float32Array.from(t.data));

      const infer = await Program.compile(g, { outputs: { logits }, bake: params });
      const got = await infer.run({ tokens: ints(c.tokens) });
      await infer.release();
      expect(got.logits.shape).toEqual(c.logits.shape);
      const worst: Record<string, number> = { logits: used(got.logits.data as Float32Array, c.logits.data) };

      const step = await TrainStep.compile(g, loss);
      const res = await step.run({ tokens: ints(c.tokens), targets: ints(c.targets) }, params);
      await step.release();
      worst.loss = used([res.loss], [c.loss]);
      for (const [k, t] of Object.entries(c.grads)) worst[`grad:${k}`] = used(res.grads.get(k)!, t.data);
      const [wk, wv] = Object.entries(worst).sort((a, b) => b[1] - a[1])[0];
      console.log(`${name}: ${Object.keys(worst).length} tensors, worst ${wk} uses ${wv.toFixed(3)} of the tolerance`);
      for (const [k, v] of Object.entries(worst)) expect(v, k).toBeLessThanOrEqual(1);
    });
  }
});

/**
 * int8 logits against torch's float32 ones: the weights carry ≤ half a step of 1/127 of each row's
 * largest |w| and the activations ≤ half a step of 1/255 of their range, a few tenths of a percent per
 * product, compounded over the six linears of each of two blocks: |Δ| within 1% of the largest |logit|.
 */
const INT8_FRACTION_OF_MAX = 0.01;

describe('inference graphs (fused attention; int8 linears) vs the same torch logits', () => {
  const c = fixture.cases.bidirectional;
  const params = new ParamStore();
  for (const [k, t] of Object.entries(c.params)) params.set(k, t.shape, Float32Array.from(t.data));

  async function logits(precision: Precision): Promise<Float32Array> {
    const g = new Graph();
    const s = new Scope(g, '', precision);
    const hidden = transformerHidden(s, g.input('tokens', c.tokens.shape, 'int64'), c.config); // int8 body, as PriorDenoiser builds it
    g.output('logits', transformerHead(new Scope(g), hidden, c.config)); // float32 head
    const p = await Program.compile(g, { bake: precision === 'int8' ? quantizedParams(params, g) : params });
    const ops = new Set(onnxOpTypes(p.model));
    expect(ops.has('MultiHeadAttention'), 'fused attention').toBe(true);
    expect(ops.has('DynamicQuantizeMatMul'), 'int8 linears').toBe(precision === 'int8');
    const out = (await p.run({ tokens: ints(c.tokens) })).logits.data as Float32Array;
    await p.release();
    return out;
  }

  it('fp32: within the float32 tolerance', async () => {
    const w = used(await logits('fp32'), c.logits.data);
    console.log(`fp32 inference graph: worst logit uses ${w.toFixed(3)} of the tolerance`);
    expect(w).toBeLessThanOrEqual(1);
  });

  it(`int8: within ${INT8_FRACTION_OF_MAX * 100}% of the largest |logit|; the same argmax wherever torch's top two differ by more than twice that`, async () => {
    const got = await logits('int8');
    const ref = c.logits.data;
    const k = c.config.codebookSize;
    const bound = INT8_FRACTION_OF_MAX * Math.max(...ref.map(Math.abs));
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]));
    let decided = 0;
    let agree = 0;
    for (let o = 0; o < ref.length; o += k) {
      const row = ref.slice(o, o + k);
      const best = row.indexOf(Math.max(...row));
      const margin = row[best] - Math.max(...row.filter((_, j) => j !== best));
      if (margin <= 2 * bound) continue;
      decided++;
      const mine = got.subarray(o, o + k);
      agree += +(mine.indexOf(Math.max(...mine)) === best);
    }
    console.log(`int8 inference graph: max |Δ| ${worst.toExponential(2)} (bound ${bound.toExponential(2)}); argmax agrees at ${agree} of the ${decided}/${ref.length / k} positions whose top-two margin exceeds 2·bound`);
    expect(worst).toBeLessThanOrEqual(bound);
    expect(decided).toBeGreaterThan(0);
    expect(agree).toBe(decided);
  });
});

function onnxOpTypes(model: Uint8Array): string[] {
  return onnxProto.onnx.ModelProto.decode(model).graph?.node?.map((n) => n.opType ?? '') ?? [];
}
