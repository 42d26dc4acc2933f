// The autoregressive baseline: the key/value-cached step loop against the full causal forward pass
// (itself checked against PyTorch in test/models/transformer.test.ts), seeded sampling, the
// teacher-forced training loss against a hand computation, and a saved causal model that samples.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as F from '../../src/engine/api.ts';
import { Graph } from '../../src/engine/graph.ts';
import type { ParamStore } from '../../src/engine/params.ts';
import { Rng } from '../../src/engine/rng.ts';
import { Program } from '../../src/engine/session.ts';
import { type PriorConfig, parsePriorConfig } from '../../src/models/prior-config.ts';
import { transformer } from '../../src/models/transformer.ts';
import { parseVqganConfig } from '../../src/models/vqgan-config.ts';
import { Scope } from '../../src/nn/scope.ts';
import { AutoregressiveSampler, sampleAutoregressive, validationNll } from '../../src/inference/autoregressive.ts';
import { AutoregressiveTrainer } from '../../src/training/train-autoregressive.ts';
import { generate } from '../../src/inference/tasks.ts';
import { loadModel } from '../../src/inference/model-dir.ts';
import { transformerConfig } from '../../src/models/prior-config.ts';
import { initPriorState, savePriorCheckpoint } from '../../src/training/train-prior.ts';
import { initVqganState } from '../../src/training/train-vqgan.ts';

/** Cached-step vs full-forward log-probabilities, float32 both ways: max |Δ| allowed. */
const CACHED_ATOL = 1e-5;
/** Training loss (float32 graph) vs the float64 hand computation: max |Δ| allowed, nats per token. */
const LOSS_ATOL = 1e-5;

const prior = parsePriorConfig({ codebookSize: 11, latent: 3, dim: 16, layers: 2, heads: 2, batch: 2, causal: true });
const N = 9;
const K = 11;

/** Initial weights with random (non-zero) positional embeddings and start token, so position bugs show. */
function weights(c: PriorConfig, seed: number): ParamStore {
  const params = initPriorState(c, seed).params;
  const rng = new Rng(seed + 100);
  for (const name of ['pos_emb', 'start_tok']) {
    const p = params.get(name);
    params.set(name, p.shape, p.data.map(() => 0.5 * rng.normal()));
  }
  return params;
}

/** log p(x_t | x_<t) at every position from one causal forward pass over x[:, :N−1]: [B, N, K]. */
async function fullLogProbs(c: PriorConfig, params: ParamStore, tokens: Int32Array, batch: number): Promise<Float32Array> {
  const n = c.latent * c.latent;
  const g = new Graph();
  const x = g.input('tokens', [batch, n - 1], 'int64');
  g.output('logp', F.logSoftmax(transformer(new Scope(g), x, transformerConfig(c)), -1));
  const program = await Program.compile(g, { bake: params });
  const feed = new BigInt64Array(batch * (n - 1));
  for (let b = 0; b < batch; b++) for (let i = 0; i < n - 1; i++) feed[b * (n - 1) + i] = BigInt(tokens[b * n + i]);
  const out = (await program.run({ tokens: feed })).logp.data as Float32Array;
  await program.release();
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'unmask-ar-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('autoregressive baseline', () => {
  it(`cached step loop gives the full causal forward's log-probabilities (|Δ| ≤ ${CACHED_ATOL})`, async () => {
    const params = weights(prior, 1);
    const sampler = new AutoregressiveSampler(prior, params);
    const batch = 3;
    const rng = new Rng(7);
    const tokens = Int32Array.from({ length: batch * N }, () => rng.int(K));
    const full = await fullLogProbs(prior, params, tokens, batch);
    const decoder = await sampler.decoder(batch);
    let worst = 0;
    for (let t = 0; t < N; t++) {
      const prev = BigInt64Array.from({ length: batch }, (_, b) => BigInt(t ? tokens[b * N + t - 1] : 0));
      const step = await decoder.next(prev);
      for (let b = 0; b < batch; b++) for (let j = 0; j < K; j++) worst = Math.max(worst, Math.abs(step[b * K + j] - full[(b * N + t) * K + j]));
    }
    console.log(`cached vs full: max |Δ log p| = ${worst.toExponential(2)} over ${batch}×${N}×${K} values`);
    expect(worst).toBeLessThanOrEqual(CACHED_ATOL);
    await expect(decoder.next(new BigInt64Array(batch))).rejects.toThrow(/all 9 positions/);
    await sampler.release();
  });

  it('samples left to right: near-zero temperature follows the full model greedily, across chunks', async () => {
    const params = weights(prior, 2);
    const sampler = new AutoregressiveSampler(prior, params, 2); // 3 grids: a full chunk and a padded one
    const seen: number[] = [];
    const tokens = await sampler.sample({
      n: 3,
      temperature: 1e-6,
      onStep: ({ step, steps, tokens: grid }) => {
        expect(steps).toBe(N);
        for (let b = 0; b < 3; b++) for (let i = 0; i < N; i++) expect(grid[b * N + i] === K).toBe(i >= step);
        seen.push(step);
      },
    });
    expect(seen).toEqual([...Array(N).keys()].map((i) => i + 1));
    const full = await fullLogProbs(prior, params, tokens, 3);
    for (let b = 0; b < 3; b++)
      for (let t = 0; t < N; t++) {
        const row = full.subarray((b * N + t) * K, (b * N + t + 1) * K);
        expect(tokens[b * N + t]).toBe(row.indexOf(Math.max(...row)));
      }
    await sampler.release();
  });

  it('same seed, same tokens; another seed, other tokens', async () => {
    const sampler = new AutoregressiveSampler(prior, weights(prior, 3));
    const model = { autoregressive: () => sampler };
    const a = await sampleAutoregressive(model, { n: 4, temperature: 1, seed: 5 });
    const b = await sampleAutoregressive(model, { n: 4, temperature: 1, seed: 5 });
    const c = await sampleAutoregressive(model, { n: 4, temperature: 1, seed: 6 });
    expect(a.every((v) => v >= 0 && v < K)).toBe(true);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(c)).not.toEqual(Array.from(a));
    await expect(sampler.sample({ n: 1, temperature: 0 })).rejects.toThrow(/temperature must be > 0/);
    await sampler.release();
  });

  it(`training loss is the teacher-forced next-token cross-entropy, computed by hand (|Δ| ≤ ${LOSS_ATOL})`, async () => {
    // One layer whose attention and MLP outputs are zeroed, so hidden_i = ln_f(input_i + pos_i) with
    // input_0 = start_tok and input_i = tok_emb[x_{i−1}]: logits are easy to compute by hand.
    const c = parsePriorConfig({ codebookSize: 5, latent: 2, dim: 8, layers: 1, heads: 2, batch: 2, causal: true, warmup: 0 });
    const state = initPriorState(c, 4);
    const rng = new Rng(9);
    const p = state.params;
    for (const name of ['blocks.0.attn.proj.weight', 'blocks.0.attn.proj.bias', 'blocks.0.mlp.2.weight', 'blocks.0.mlp.2.bias']) p.set(name, p.get(name).shape, new Float32Array(p.get(name).data.length));
    for (const name of ['pos_emb', 'start_tok', 'ln_f.weight', 'ln_f.bias']) p.set(name, p.get(name).shape, p.get(name).data.map(() => rng.normal()));
    state.ema = p.clone();
    const grid = [3, 0, 4, 1];
    const d = 8;
    const row = (name: string, i: number) => Array.from(p.get(name).data.subarray(i * d, (i + 1) * d));
    let hand = 0;
    for (let i = 0; i < 4; i++) {
      const input = i === 0 ? row('start_tok', 0) : row('tok_emb.weight', grid[i - 1]);
      const h = input.map((v, j) => v + row('pos_emb', i)[j]);
      const mean = h.reduce((a, v) => a + v, 0) / d;
      const variance = h.reduce((a, v) => a + (v - mean) ** 2, 0) / d;
      const y = h.map((v, j) => ((v - mean) / Math.sqrt(variance + 1e-5)) * p.get('ln_f.weight').data[j] + p.get('ln_f.bias').data[j]);
      const logits = [...Array(5).keys()].map((kk) => row('head.weight', kk).reduce((a, w, j) => a + w * y[j], 0));
      const max = Math.max(...logits);
      const lse = max + Math.log(logits.reduce((a, v) => a + Math.exp(v - max), 0));
      hand += (lse - logits[grid[i]]) / 4;
    }
    const latents = { count: 1, tokens: Int32Array.from(grid) };
    const nll = await validationNll(c, state.ema, latents);
    const before = p.get('head.weight').data.slice();
    const trainer = new AutoregressiveTrainer(c, state, latents);
    const info = await trainer.step();
    await trainer.release();
    console.log(`loss ${info.loss.toFixed(6)} vs hand ${hand.toFixed(6)} nats/token; validation NLL ${nll.toFixed(6)} bits/token`);
    expect(Math.abs(info.loss - hand)).toBeLessThanOrEqual(LOSS_ATOL);
    expect(Math.abs(info.elbo - hand / Math.LN2)).toBeLessThanOrEqual(LOSS_ATOL / Math.LN2);
    expect(Math.abs(nll - hand / Math.LN2)).toBeLessThanOrEqual(LOSS_ATOL / Math.LN2);
    expect(p.get('head.weight').data).not.toEqual(before);
    expect(state.step).toBe(1);
  });

  it('a saved causal prior loads as a model that generates left to right and refuses fill tasks', async () => {
    const vq = parseVqganConfig({ channels: 1, imageSize: 8, nf: 32, chMult: [1, 1], resBlocks: 1, attnResolutions: [], codebookSize: K, embDim: 4, ndf: 8, discLayers: 1 });
    const c = parsePriorConfig({ ...prior, latent: 4 });
    savePriorCheckpoint(join(dir, 'ar'), c, vq, initVqganState(vq, 1).ema, initPriorState(c, 2));
    const model = loadModel(join(dir, 'ar'));
    expect(model.prior.causal).toBe(true);
    const r = await generate(model, { n: 2, steps: 4, seed: 1 });
    expect(r.images).toMatchObject({ n: 2, channels: 1, height: 8, width: 8 });
    expect(Array.from(r.tokens)).toEqual(Array.from(await sampleAutoregressive(model, { n: 2, seed: 1 })));
    expect(() => model.denoiser()).toThrow(/autoregressive baseline/);
    await model.release();
  });
});
