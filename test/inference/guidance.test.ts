// Class-conditional priors and classifier-free guidance: the sampling denoiser (transformer body on the
// doubled batch, head at the queried positions, guidance combined in the head session) against full
// forward passes of the transformer with the labels, combined here in float64; the label token and
// label dropout in training; task options naming a class.
import { afterAll, describe, expect, it } from 'vitest';
import * as F from '../../src/engine/api.ts';
import { Graph } from '../../src/engine/graph.ts';
import type { ParamStore } from '../../src/engine/params.ts';
import { Rng } from '../../src/engine/rng.ts';
import { Program } from '../../src/engine/session.ts';
import { parsePriorConfig, transformerConfig } from '../../src/models/prior-config.ts';
import { transformer } from '../../src/models/transformer.ts';
import { parseVqganConfig } from '../../src/models/vqgan-config.ts';
import { Scope } from '../../src/nn/scope.ts';
import { drawClasses, generate, inpaint, taskCondition } from '../../src/inference/tasks.ts';
import { AutoregressiveSampler } from '../../src/inference/autoregressive.ts';
import { PriorDenoiser, UnmaskModel } from '../../src/inference/model.ts';
import { Tokenizer } from '../../src/inference/tokenizer.ts';
import { batchLabels, initPriorState } from '../../src/training/train-prior.ts';
import { initVqganState } from '../../src/training/train-vqgan.ts';

/** Guided (float32 sessions) vs the float64 combination of two float32 forward passes: max |Δ| in log-probability. */
const GUIDANCE_ATOL = 2e-5;

const classes = ['cat', 'dog', 'Sneaker'];
const prior = parsePriorConfig({ codebookSize: 7, latent: 4, dim: 16, layers: 2, heads: 2, batch: 4, classes });
const N = 16, K = 7, C = classes.length;

/** Initial weights with random positional embeddings, so a label or position mix-up shows. */
function weights(seed: number): ParamStore {
  const params = initPriorState(prior, seed).params;
  const rng = new Rng(seed + 100);
  const p = params.get('pos_emb');
  params.set('pos_emb', p.shape, p.data.map(() => 0.5 * rng.normal()));
  return params;
}
const params = weights(3);

/** log-softmax of the full transformer's logits for `tokens` [B, N] with `labels` [B]: [B, N, K]. */
async function fullLogits(tokens: Int32Array, labels: number[]): Promise<Float32Array> {
  const b = labels.length;
  const g = new Graph();
  const x = g.input('tokens', [b, N], 'int64');
  const l = g.input('labels', [b], 'int64');
  g.output('logp', F.logSoftmax(transformer(new Scope(g), x, transformerConfig(prior), { labels: l }), -1));
  const program = await Program.compile(g, { bake: params });
  const out = (await program.run({ tokens: BigInt64Array.from(tokens, BigInt), labels: BigInt64Array.from(labels, BigInt) })).logp.data as Float32Array;
  await program.release();
  return out;
}

/** log-softmax((1 + w)·a − w·b) over each row of K, in float64. */
function combine(a: Float32Array, b: Float32Array, w: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let r = 0; r < a.length / K; r++) {
    const z = Array.from({ length: K }, (_, v) => (1 + w) * a[r * K + v] - w * b[r * K + v]);
    const max = Math.max(...z);
    const lse = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
    z.forEach((v, i) => (out[r * K + i] = v - lse));
  }
  return out;
}

const denoiser = new PriorDenoiser(prior, params);
afterAll(() => denoiser.release());

describe('classifier-free guidance', () => {
  const batch = 3;
  const rng = new Rng(5);
  const tokens = Int32Array.from({ length: batch * N }, () => (rng.next() < 0.5 ? K : rng.int(K)));
  const m = 4;
  const positions = Int32Array.from({ length: batch * m }, (_, i) => (i * 5) % N);
  const labels = Int32Array.of(0, 2, C); // the last row unconditional

  it.each([0, 1.5, 4])('w = %f gives log-softmax((1 + w)·conditional − w·unconditional) of full forward passes', async (w) => {
    const cond = await fullLogits(tokens, Array.from(labels));
    const uncond = await fullLogits(tokens, [C, C, C]);
    const pick = (all: Float32Array) => {
      const out = new Float32Array(batch * m * K);
      for (let b = 0; b < batch; b++) for (let j = 0; j < m; j++) out.set(all.subarray((b * N + positions[b * m + j]) * K, (b * N + positions[b * m + j] + 1) * K), (b * m + j) * K);
      return out;
    };
    const expected = combine(pick(cond), pick(uncond), w);
    const got = await denoiser.logProbs(tokens, batch, positions, m, { labels, guidance: w });
    let max = 0;
    got.forEach((v, i) => (max = Math.max(max, Math.abs(v - expected[i]))));
    console.log(`w = ${w}: max |Δ log p| = ${max.toExponential(2)} (tolerance ${GUIDANCE_ATOL})`);
    expect(max).toBeLessThan(GUIDANCE_ATOL);
  });

  it('w = 0 equals the conditional model, and the labels change the prediction', async () => {
    const cond = await denoiser.logProbs(tokens, batch, positions, m, { labels, guidance: 0 });
    const other = await denoiser.logProbs(tokens, batch, positions, m, { labels: Int32Array.of(1, 0, 1), guidance: 0 });
    const plain = await denoiser.logProbs(tokens, batch, positions, m);
    const diff = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => Math.max(s, Math.abs(v - b[i])), 0);
    expect(diff(cond.subarray(2 * m * K), plain.subarray(2 * m * K))).toBe(0); // null label = no condition
    expect(diff(cond, other)).toBeGreaterThan(1e-3);
  });
});

describe('class-conditional training', () => {
  it('gives a grid its own label, or the null label at the label-dropout rate', () => {
    const data = { count: 4, tokens: new Int32Array(4 * N), labels: Int32Array.of(0, 1, 2, 1) };
    const rng = new Rng(1);
    let nulls = 0, wrong = 0, total = 0;
    for (let r = 0; r < 2000; r++) {
      batchLabels(prior, data, [0, 1, 2, 3], rng).forEach((v, i) => {
        if (Number(v) === C) nulls++;
        else if (Number(v) !== data.labels[i]) wrong++;
        total++;
      });
    }
    expect(wrong).toBe(0);
    // binomial standard error √(0.09/8000) ≈ 0.0034; allow 4σ
    expect(Math.abs(nulls / total - prior.labelDropout)).toBeLessThan(0.014);
  });
});

describe('tasks with a class', () => {
  const vq = parseVqganConfig({ channels: 1, imageSize: 8, nf: 32, chMult: [1, 1], resBlocks: 1, attnResolutions: [], codebookSize: K, embDim: 4, ndf: 8, discLayers: 1 });
  const model = new UnmaskModel('test-model', Tokenizer.fromParams(vq, initVqganState(vq, 1).params), prior, params, null);
  afterAll(() => model.release());

  it('lists the classes and finds one by name, ignoring case', () => {
    expect(model.classes).toEqual(classes);
    expect(taskCondition(model, { steps: 1, label: 'sneaker', guidance: 2 }, 2)).toEqual({ labels: Int32Array.of(2, 2), guidance: 2 });
  });

  it('without a class: generation draws each result\'s class as the training data has them, tasks with given tokens take the null label', () => {
    // no frequencies recorded: every class alike; the default of tasks with given tokens is the null label
    expect(taskCondition(model, { steps: 1 }, 2)).toEqual({ labels: Int32Array.of(C, C), guidance: 0 });
    expect(taskCondition(model, { steps: 1, label: 'None' }, 2, 'any')).toEqual({ labels: Int32Array.of(C, C), guidance: 0 });
    const uniform = taskCondition(model, { steps: 1, seed: 4 }, 3000, 'any')!.labels;
    for (let c = 0; c < C; c++) expect(Math.abs(uniform.filter((l) => l === c).length / 3000 - 1 / 3)).toBeLessThan(0.035); // 4σ
    // recorded frequencies are followed, seeded, and a class of share 0 is never drawn
    const skewed = drawClasses([0.8, 0, 0.2], C, 4000, 9);
    expect(drawClasses([0.8, 0, 0.2], C, 4000, 9)).toEqual(skewed);
    expect(skewed.filter((l) => l === 1).length).toBe(0);
    expect(Math.abs(skewed.filter((l) => l === 0).length / 4000 - 0.8)).toBeLessThan(0.026); // 4σ = 4·√(0.16/4000)
    expect(drawClasses([0.8, 0, 0.2], C, 8, 10)).not.toEqual(drawClasses([0.8, 0, 0.2], C, 8, 9));
    // guidance towards the drawn classes is allowed; towards the null label it is not
    expect(taskCondition(model, { steps: 1, label: 'any', guidance: 2, seed: 4 }, 3000)).toEqual({ labels: uniform, guidance: 2 });
    expect(() => taskCondition(model, { steps: 1, label: 'none', guidance: 1 }, 1)).toThrow('guidance steers towards a class, and no class was given');
  });

  it('class names any and none are reserved', () => {
    expect(() => parsePriorConfig({ ...prior, classes: ['cat', 'Any'] })).toThrow("'any' is reserved");
    expect(() => parsePriorConfig({ ...prior, classFrequencies: [1] })).toThrow('one frequency per class (3), got 1');
  });

  it('rejects an unknown class, guidance without a class, and negative guidance, in one line', () => {
    expect(() => taskCondition(model, { steps: 1, label: 'horse' }, 1)).toThrow("no class 'horse' in test-model — use one of: cat, dog, Sneaker; or any (drawn as in the training data), none (the null label)");
    expect(() => taskCondition(model, { steps: 1, guidance: 1 }, 1)).toThrow('guidance steers towards a class, and no class was given — give a class too (--class NAME)');
    expect(() => taskCondition(new UnmaskModel('plain', model.tokenizer, parsePriorConfig({ ...prior, classes: [] }), params, null), { steps: 1, label: 'any' }, 1)).toThrow('plain is unconditional');
    expect(() => taskCondition(model, { steps: 1, label: 'cat', guidance: -1 }, 1)).toThrow('guidance must be a number ≥ 0');
  });

  it('generates and inpaints with a class and guidance, and unconditionally with the same weights', async () => {
    const a = await generate(model, { n: 2, steps: 3, sampler: 'halton', seed: 1, label: 'dog', guidance: 3 });
    const b = await generate(model, { n: 2, steps: 3, sampler: 'halton', seed: 1, label: 'cat', guidance: 3 });
    const u = await generate(model, { n: 2, steps: 3, sampler: 'halton', seed: 1 });
    expect(a.tokens).not.toEqual(b.tokens);
    expect(u.tokens.every((v) => v >= 0 && v < K)).toBe(true);
    const image = { n: 1, channels: 1, height: 8, width: 8, data: a.images.data.slice(0, 64) };
    const mask = new Float32Array(64).map((_, i) => (i % 8 < 2 ? 1 : 0));
    const r = await inpaint(model, image, mask, { n: 2, steps: 2, sampler: 'remask', seed: 2, label: 'Sneaker', guidance: 1 });
    expect(r.tokens.every((v) => v >= 0 && v < K)).toBe(true);
  });
});

describe('classifier-free guidance for the autoregressive baseline', () => {
  const causal = parsePriorConfig({ ...prior, causal: true });
  const weightsAr = initPriorState(causal, 8).params;
  const rng = new Rng(12);
  for (const name of ['pos_emb', 'start_tok']) {
    const p = weightsAr.get(name);
    weightsAr.set(name, p.shape, p.data.map(() => 0.5 * rng.normal()));
  }

  /** log p(x_t | x_<t) at position t = prefix length, with `label` and with the null label, from one full causal forward pass. */
  async function fullNext(program: Program, prefix: number[], label: number): Promise<[Float32Array, Float32Array]> {
    const feed = BigInt64Array.from({ length: 2 * (N - 1) }, (_, i) => BigInt(prefix[i % (N - 1)] ?? 0));
    const all = (await program.run({ tokens: feed, labels: BigInt64Array.of(BigInt(label), BigInt(C)) })).logp.data as Float32Array;
    const at = (row: number) => all.slice((row * N + prefix.length) * K, (row * N + prefix.length + 1) * K);
    return [at(0), at(1)];
  }

  it('draws each token from (1 + w)·log p(·|c) − w·log p(·|∅): near-zero temperature follows its argmax', async () => {
    const w = 2;
    const sampler = new AutoregressiveSampler(causal, weightsAr);
    const got = await sampler.sample({ n: 2, labels: Int32Array.of(1, 2), guidance: w, temperature: 1e-4, seed: 3 });
    await sampler.release();
    const g = new Graph();
    const x = g.input('tokens', [2, N - 1], 'int64');
    const l = g.input('labels', [2], 'int64');
    g.output('logp', F.logSoftmax(transformer(new Scope(g), x, transformerConfig(causal), { labels: l }), -1)); // [2, N, K]
    const program = await Program.compile(g, { bake: weightsAr });
    let differs = 0;
    for (const [b, label] of [[0, 1], [1, 2]]) {
      const expected: number[] = [];
      for (let t = 0; t < N; t++) {
        const [c, u] = await fullNext(program, expected, label);
        const mixed = Array.from(c, (v, i) => (1 + w) * v - w * u[i]);
        expected.push(mixed.indexOf(Math.max(...mixed)));
        if (expected[t] !== Array.from(c).indexOf(Math.max(...c))) differs++;
      }
      expect(Array.from(got.subarray(b * N, (b + 1) * N))).toEqual(expected);
    }
    // the guided choice is not the conditional model's alone somewhere, or this would not test guidance
    expect(differs).toBeGreaterThan(0);
    await program.release();
  });
});
