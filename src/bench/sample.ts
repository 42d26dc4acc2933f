// `unmask bench sample`: seconds per image for sampling with a prior of a given size on random weights,
// through the same denoiser and sampling loop that `unmask sample` uses.
import { sampleTokens } from '../diffusion/sample.ts';
import type { SamplerName } from '../diffusion/samplers.ts';
import { Graph } from '../engine/graph.ts';
import { ParamStore } from '../engine/params.ts';
import { Rng } from '../engine/rng.ts';
import type { Precision } from '../engine/quantize.ts';
import { Program } from '../engine/session.ts';
import { Scope } from '../nn/scope.ts';
import { parsePriorConfig, transformerConfig } from '../models/prior-config.ts';
import { transformer } from '../models/transformer.ts';
import { AutoregressiveSampler } from '../inference/autoregressive.ts';
import { PriorDenoiser } from '../inference/model.ts';
import { initPriorState } from '../training/train-prior.ts';
import { UnmaskError } from '../errors.ts';

export interface SampleBenchOptions {
  layers: number;
  dim: number;
  heads: number;
  /** Tokens per image (a square grid). */
  tokens: number;
  codebook: number;
  batch: number;
  steps: number;
  sampler?: SamplerName;
  runs?: number;
  /** The body's linear layers (see DenoiserOptions.precision). */
  precision?: Precision;
}

export interface SampleBenchResult {
  seconds_per_image: number;
  seconds_per_batch: number;
  /** Median time of one denoiser call over the whole batch with every position queried. */
  forward_ms: number;
  runs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function benchSample(o: SampleBenchOptions): Promise<SampleBenchResult> {
  const latent = Math.round(Math.sqrt(o.tokens));
  if (latent * latent !== o.tokens) throw new UnmaskError(`--tokens must be a square number (a grid), got ${o.tokens}`, 'pass e.g. --tokens 256 for a 16×16 grid');
  const config = parsePriorConfig({ codebookSize: o.codebook, latent, dim: o.dim, layers: o.layers, heads: o.heads });
  const g = new Graph();
  transformer(new Scope(g), g.input('tokens', [1, o.tokens], 'int64'), transformerConfig(config));
  const params = ParamStore.init(g, new Rng(0));
  const denoiser = new PriorDenoiser(config, params, { maxChunk: o.batch, precision: o.precision });
  const grids = new Int32Array(o.batch * o.tokens).fill(o.codebook);
  // Full forward: every position queried, as the reference computes it.
  const all = Int32Array.from({ length: o.batch * o.tokens }, (_, i) => i % o.tokens);
  await denoiser.logProbs(grids, o.batch, all, o.tokens);
  const fwd: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await denoiser.logProbs(grids, o.batch, all, o.tokens);
    fwd.push(performance.now() - t);
  }
  const runs = o.runs ?? 3;
  const times: number[] = [];
  await sampleTokens(denoiser, grids, o.batch, { steps: Math.min(o.steps, 4), sampler: o.sampler, seed: 0 }); // warm the buckets
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    await sampleTokens(denoiser, grids, o.batch, { steps: o.steps, sampler: o.sampler, seed: r });
    times.push((performance.now() - t) / 1000);
  }
  await denoiser.release();
  const perBatch = median(times);
  return { seconds_per_image: perBatch / o.batch, seconds_per_batch: perBatch, forward_ms: median(fwd), runs };
}

export interface AutoregressiveBenchResult extends SampleBenchResult {
  /** Median time of one key/value-cached step over the whole batch. */
  step_ms: number;
}

/**
 * The autoregressive baseline at the same size: N key/value-cached steps per batch. `forward_ms` is one
 * full causal forward pass over the batch, what each step would cost without the cache.
 */
export async function benchSampleAutoregressive(o: Omit<SampleBenchOptions, 'steps' | 'sampler'>): Promise<AutoregressiveBenchResult> {
  const latent = Math.round(Math.sqrt(o.tokens));
  if (latent * latent !== o.tokens) throw new UnmaskError(`--tokens must be a square number (a grid), got ${o.tokens}`, 'pass e.g. --tokens 256 for a 16×16 grid');
  const config = parsePriorConfig({ codebookSize: o.codebook, latent, dim: o.dim, layers: o.layers, heads: o.heads, causal: true });
  const params = initPriorState(config, 0).params;
  const g = new Graph();
  g.output('logits', transformer(new Scope(g), g.input('tokens', [o.batch, o.tokens - 1], 'int64'), transformerConfig(config)));
  const full = await Program.compile(g, { bake: params });
  const tokens = new BigInt64Array(o.batch * (o.tokens - 1));
  await full.run({ tokens });
  const fwd: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await full.run({ tokens });
    fwd.push(performance.now() - t);
  }
  await full.release();
  const sampler = new AutoregressiveSampler(config, params, o.batch);
  const warm = await sampler.decoder(o.batch);
  for (let i = 0; i < 4; i++) await warm.next(new BigInt64Array(o.batch));
  const runs = o.runs ?? 3;
  const times: number[] = [];
  const steps: number[] = [];
  for (let r = 0; r < runs; r++) {
    let last = performance.now();
    const t = last;
    await sampler.sample({
      n: o.batch,
      seed: r,
      onStep: () => {
        const now = performance.now();
        steps.push(now - last);
        last = now;
      },
    });
    times.push((performance.now() - t) / 1000);
  }
  await sampler.release();
  const perBatch = median(times);
  return { seconds_per_image: perBatch / o.batch, seconds_per_batch: perBatch, forward_ms: median(fwd), step_ms: median(steps), runs };
}
