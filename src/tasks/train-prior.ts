// Training the absorbing-diffusion prior on cached VQ latents (REFERENCE.md §2): sample t, mask, predict
// x₀ at every position, weight the masked cross-entropy by the chosen objective; Adam with warm-up,
// optional clipping, EMA of weights for sampling; validation ELBO in bits per token.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { TimeSampler, lossWeight, maskSample } from '../diffusion/absorbing.ts';
import * as F from '../engine/api.ts';
import { Graph, type Tensor } from '../engine/graph.ts';
import { loadCheckpoint, saveCheckpoint } from '../engine/checkpoint.ts';
import { type AdamState, adamInit, adamUpdate, clipGradNorm, emaUpdate, warmupLr } from '../engine/optim.ts';
import { ParamStore } from '../engine/params.ts';
import { Rng } from '../engine/rng.ts';
import { decodeSafetensors, encodeSafetensors, paramsFromTensors, paramsToTensors } from '../engine/safetensors.ts';
import { Program } from '../engine/session.ts';
import { TrainStep } from '../engine/trainstep.ts';
import { crossEntropy } from '../nn/losses.ts';
import { Scope } from '../nn/scope.ts';
import { type PriorConfig, parsePriorConfig, transformerConfig } from '../models/prior-config.ts';
import { type VqganConfig, parseVqganConfig } from '../models/vqgan-config.ts';
import { transformer } from '../models/transformer.ts';
import { PRIOR_KIND, TOKENIZER_FILE } from './model.ts';

/** Per-sample Σ_masked CE for x_t [B, N] against x₀, and the loss mean_b(weight_b · Σ CE_b). */
export function buildPriorGraph(c: PriorConfig, batch: number): { graph: Graph; loss: Tensor; ceSum: Tensor } {
  const n = c.latent * c.latent;
  const graph = new Graph();
  const xt = graph.input('xt', [batch, n], 'int64');
  const x0 = graph.input('x0', [batch, n], 'int64');
  const mask = graph.input('mask', [batch, n]);
  const weight = graph.input('weight', [batch]);
  const logits = transformer(new Scope(graph), xt, transformerConfig(c)); // [B, N, K]
  const ceSum = F.reduceSum(crossEntropy(logits, x0, mask), [1]); // [B]
  const loss = F.reduceMean(F.mul(ceSum, weight));
  return { graph, loss, ceSum };
}

export interface PriorTrainState {
  step: number;
  params: ParamStore;
  ema: ParamStore;
  opt: AdamState;
  rng: Rng;
  times: TimeSampler;
}

export function initPriorState(c: PriorConfig, seed: number): PriorTrainState {
  const graph = new Graph();
  const n = c.latent * c.latent;
  // The causal twin reads N − 1 tokens (start_tok takes the first place); parameters in definition order.
  transformer(new Scope(graph), graph.input('tokens', [1, c.causal ? n - 1 : n], 'int64'), transformerConfig(c));
  const rng = new Rng(seed);
  const params = ParamStore.init(graph, rng);
  const names = [...graph.params.values()].filter((p) => p.trainable).map((p) => p.name);
  return { step: 0, params, ema: params.clone(), opt: adamInit(params, names), rng, times: new TimeSampler(c.latent * c.latent, c.timeSampling) };
}

export interface PriorStepInfo {
  step: number;
  loss: number;
  /** The batch's ELBO estimate, bits per token. */
  elbo: number;
  gradNorm: number;
  lr: number;
  samplesPerSecond: number;
}

/** Latents of a dataset: `count` code grids of N tokens each. */
export interface LatentSet {
  count: number;
  tokens: Int32Array;
}

export class PriorTrainer {
  private program: TrainStep | null = null;
  private n: number;

  constructor(
    readonly config: PriorConfig,
    readonly state: PriorTrainState,
    readonly data: LatentSet,
  ) {
    this.n = config.latent * config.latent;
  }

  async step(): Promise<PriorStepInfo> {
    const c = this.config;
    const s = this.state;
    const t0 = performance.now();
    if (!this.program) {
      const g = buildPriorGraph(c, c.batch);
      this.program = await TrainStep.compile(g.graph, g.loss, { extra: { ceSum: g.ceSum } });
    }
    const n = this.n;
    const x0 = new BigInt64Array(c.batch * n);
    const xt = new BigInt64Array(c.batch * n);
    const mask = new Float32Array(c.batch * n);
    const weight = new Float32Array(c.batch);
    const ts = new Int32Array(c.batch);
    for (let b = 0; b < c.batch; b++) {
      const i = s.rng.int(this.data.count);
      for (let j = 0; j < n; j++) x0[b * n + j] = BigInt(this.data.tokens[i * n + j]);
      const { t, pt } = s.times.sample(s.rng);
      ts[b] = t;
      const masked = maskSample(x0.subarray(b * n, (b + 1) * n), t, n, c.codebookSize, c.maskSchedule, s.rng, xt.subarray(b * n, (b + 1) * n), mask.subarray(b * n, (b + 1) * n));
      weight[b] = lossWeight(c.loss, t, n, n, masked, pt);
    }
    const r = await this.program.run({ xt, x0, mask, weight }, s.params);
    const gradNorm = c.gradClip > 0 ? clipGradNorm(r.grads, c.gradClip) : 0;
    const lr = warmupLr(c.lr, s.step, c.warmup);
    adamUpdate(s.params, r.grads, s.opt, { lr });
    emaUpdate(s.ema, s.params, c.emaDecay);
    s.step++;
    const ce = r.outputs.ceSum.data as Float32Array;
    let elbo = 0;
    for (let b = 0; b < c.batch; b++) {
      const term = ce[b] / ts[b] / (Math.LN2 * n); // CE_t / t in bits per token
      s.times.observe(ts[b], term * n);
      elbo += (term * n) / c.batch; // an unbiased one-sample estimate of Σ_t E[CE_t/t] / (ln2·N)
    }
    return { step: s.step, loss: r.loss, elbo, gradNorm, lr, samplesPerSecond: c.batch / ((performance.now() - t0) / 1000) };
  }

  async release(): Promise<void> {
    await this.program?.release();
    this.program = null;
  }
}

/** Evenly spaced times for the stratified validation ELBO. */
export function elboTimes(n: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.round(((i + 0.5) / count) * n) || 1);
}

/**
 * The ELBO Σ_{t=1..T} E[CE_t / t] in bits per token, estimated on `latents` with a stratified set of
 * times (each standing for T/|times| of the sum) and masks drawn from `seed`, so the value is comparable
 * between checkpoints. `times` = every t gives the full bound.
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
    const r = await program.run({ xt, x0, mask, weight: new Float32Array(batch) });
    const ce = r.ceSum.data as Float32Array;
    chunk.forEach(({ t }, b) => (total += ce[b] / t));
  }
  await program.release();
  return ((total / latents.count) * (n / times.length)) / (Math.LN2 * n);
}

/**
 * A prior checkpoint is a complete model: the prior's weights, EMA and optimizer, and a copy of the
 * tokenizer's weights, so sampling needs this directory alone.
 */
export function savePriorCheckpoint(
  dir: string,
  prior: PriorConfig,
  tokenizer: VqganConfig,
  tokenizerParams: ParamStore,
  s: PriorTrainState,
  runInfo: object = {},
  files: Record<string, Uint8Array | string> = {},
): void {
  saveCheckpoint(dir, {
    config: { kind: PRIOR_KIND, prior, tokenizer },
    params: s.params,
    ema: s.ema,
    optimizers: { prior: s.opt },
    state: { step: s.step, rng: s.rng.state(), extra: { ...runInfo, sqEma: Array.from(s.times.sqEma), counts: Array.from(s.times.counts) } },
    files: { ...files, [TOKENIZER_FILE]: encodeSafetensors(paramsToTensors(tokenizerParams)) },
  });
}

/** Reads a prior checkpoint to resume training. */
export function loadPriorCheckpoint(dir: string): { prior: PriorConfig; tokenizer: VqganConfig; tokenizerParams: ParamStore; state: PriorTrainState; extra: object } {
  const ck = loadCheckpoint(dir);
  const raw = ck.config as { kind?: string; prior?: unknown; tokenizer?: unknown };
  if (raw.kind !== PRIOR_KIND) throw new Error(`${dir} holds a ${raw.kind ?? 'unknown'} checkpoint, not a prior`);
  const prior = parsePriorConfig(raw.prior);
  const opt = ck.optimizers?.prior;
  if (!opt || !ck.ema) throw new Error(`${dir} holds no optimizer state (an exported model?); train a new run instead of --resume`);
  const bytes = ck.files?.[TOKENIZER_FILE];
  if (!bytes) throw new Error(`${dir} has no ${TOKENIZER_FILE}`);
  const times = new TimeSampler(prior.latent * prior.latent, prior.timeSampling);
  const extra = (ck.state.extra ?? {}) as { sqEma?: number[]; counts?: number[] };
  if (extra.sqEma) times.sqEma.set(extra.sqEma);
  if (extra.counts) times.counts.set(extra.counts);
  return {
    prior,
    tokenizer: parseVqganConfig(raw.tokenizer),
    tokenizerParams: paramsFromTensors(decodeSafetensors(bytes as Uint8Array, join(dir, TOKENIZER_FILE)).tensors),
    state: { step: ck.state.step, params: ck.params, ema: ck.ema, opt, rng: Rng.fromState(ck.state.rng ?? new Rng(0).state()), times },
    extra,
  };
}

/**
 * An inference-only copy of a prior run: the EMA weights as the parameters and the tokenizer, both in
 * float16 unless `fp16` is false, the config and the model card; no optimizer state.
 */
export function exportModel(run: string, out: string, fp16 = true, cardAppendix = ''): { bytes: number } {
  const ck = loadCheckpoint(run);
  const raw = ck.config as { kind?: string };
  if (raw.kind !== PRIOR_KIND) throw new Error(`${run} holds a ${raw.kind ?? 'unknown'} checkpoint, not a prior — export a run of unmask train prior`);
  const tok = ck.files?.[TOKENIZER_FILE];
  if (!tok) throw new Error(`${run} has no ${TOKENIZER_FILE}`);
  const tokenizer = paramsFromTensors(decodeSafetensors(tok as Uint8Array, join(run, TOKENIZER_FILE)).tensors);
  const files: Record<string, Uint8Array | string> = { [TOKENIZER_FILE]: encodeSafetensors(paramsToTensors(tokenizer, fp16 ? 'F16' : 'F32')) };
  for (const name of ['model-card.md', 'samples.png']) if (ck.files?.[name]) files[name] = ck.files[name];
  if (cardAppendix) files['model-card.md'] = `${new TextDecoder().decode(files['model-card.md'] as Uint8Array | undefined)}\n${cardAppendix}`;
  saveCheckpoint(out, { config: ck.config, params: ck.ema ?? ck.params, state: { step: ck.state.step }, files, fp16 });
  let bytes = 0;
  for (const f of ['params.safetensors', TOKENIZER_FILE]) bytes += statSync(join(out, f)).size;
  return { bytes };
}
