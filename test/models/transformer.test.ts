// The prior's transformer against PyTorch 1.13 (reference/make_transformer_fixture.py writes
// test/fixtures/transformer.json): the reference state dict loads by name, and logits, the
// cross-entropy and every parameter gradient match, for the bidirectional model and its causal twin.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as F from '../../src/engine/api.ts';
import { Graph, sizeOf } from '../../src/engine/graph.ts';
import { ParamStore } from '../../src/engine/params.ts';
import { Program } from '../../src/engine/session.ts';
import { TrainStep } from '../../src/engine/trainstep.ts';
import { TRANSFORMER_DEFAULTS, type TransformerConfig, transformer } from '../../src/models/transformer.ts';
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
