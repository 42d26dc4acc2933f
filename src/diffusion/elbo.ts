// The absorbing prior's objective and its estimator (docs/method.md §2): the loss graph (masked
// cross-entropy of x₀ given x_t, summed per sample and weighted per the chosen objective) that
// training differentiates, and the stratified validation ELBO in bits per token that training runs,
// evaluation and `unmask sample --elbo` report.
import type { LatentSet } from '../data/latent-set.ts';
import * as F from '../engine/api.ts';
import { Graph, type Tensor } from '../engine/graph.ts';
import type { ParamStore } from '../engine/params.ts';
import { Rng } from '../engine/rng.ts';
import { Program } from '../engine/session.ts';
import { type PriorConfig, nullLabels, priorInputs, transformerConfig } from '../models/prior-config.ts';
import { transformer } from '../models/transformer.ts';
import { crossEntropy } from '../nn/losses.ts';
import { Scope } from '../nn/scope.ts';
import { maskSample } from './absorbing.ts';

/**
 * Per-sample Σ_masked CE for x_t [B, N] against x₀, and the loss mean_b(weight_b · Σ CE_b). A
 * class-conditional prior also reads `labels` [B]; with `dropout` > 0 (training) the dropout masks are
 * inputs too (nn/dropout.ts), so every random draw comes from the run's Rng.
 */
export function buildPriorGraph(c: PriorConfig, batch: number, dropout = 0): { graph: Graph; loss: Tensor; ceSum: Tensor } {
  const n = c.latent * c.latent;
  const graph = new Graph();
  const xt = graph.input('xt', [batch, n], 'int64');
  const x0 = graph.input('x0', [batch, n], 'int64');
  const mask = graph.input('mask', [batch, n]);
  const weight = graph.input('weight', [batch]);
  const logits = transformer(new Scope(graph), xt, transformerConfig(c), priorInputs(graph, c, batch, dropout)); // [B, N, K]
  const ceSum = F.reduceSum(crossEntropy(logits, x0, mask), [1]); // [B]
  const loss = F.reduceMean(F.mul(ceSum, weight));
  return { graph, loss, ceSum };
}

/** Evenly spaced times for the stratified validation ELBO. */
export function elboTimes(n: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.round(((i + 0.5) / count) * n) || 1);
}

/**
 * The ELBO Σ_{t=1..T} E[CE_t / t] in bits per token, estimated on `latents` with a stratified set of
 * times (each standing for T/|times| of the sum) and masks drawn from `seed`, so the value is comparable
 * between checkpoints. `times` = every t gives the full bound. A class-conditional prior is measured
 * with the null label: the bound on the codes' own likelihood, comparable with unconditional priors.
 */
export async function validationElbo(c: PriorConfig, params: ParamStore, latents: LatentSet, times: number[], seed: number, batch = 16): Promise<number> {
  const n = c.latent * c.latent;
  const g = buildPriorGraph(c, batch);
  const program = await Program.compile(g.graph, { outputs: { ceSum: g.ceSum }, bake: params });
  const rng = new Rng(seed);
  let total = 0;
  const jobs: { i: number; t: number }[] = [];
  for (let i = 0; i < latents.count; i++) for (const t of times) jobs.push({ i, t });
  for (let start = 0; start < jobs.length; start += batch) {
    const x0 = new BigInt64Array(batch * n);
    const xt = new BigInt64Array(batch * n);
    const mask = new Float32Array(batch * n);
    const chunk = jobs.slice(start, start + batch);
    chunk.forEach(({ i, t }, b) => {
      for (let j = 0; j < n; j++) x0[b * n + j] = BigInt(latents.tokens[i * n + j]);
      maskSample(x0.subarray(b * n, (b + 1) * n), t, n, c.codebookSize, 'random', rng, xt.subarray(b * n, (b + 1) * n), mask.subarray(b * n, (b + 1) * n));
    });
    const feeds: Record<string, BigInt64Array | Float32Array> = { xt, x0, mask, weight: new Float32Array(batch) };
    if (c.classes.length) feeds.labels = nullLabels(c, batch);
    const r = await program.run(feeds);
    const ce = r.ceSum.data as Float32Array;
    chunk.forEach(({ t }, b) => (total += ce[b] / t));
  }
  await program.release();
  return ((total / latents.count) * (n / times.length)) / (Math.LN2 * n);
}
