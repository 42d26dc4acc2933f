// Training the absorbing-diffusion prior on cached VQ latents (docs/method.md §2): sample t, mask, predict
// x₀ at every position, weight the masked cross-entropy by the chosen objective (the loss graph is
// diffusion/elbo.ts); Adam with warm-up, optional clipping, EMA of weights for sampling; checkpoints.
import { join } from 'node:path';
import type { LatentSet } from '../data/latent-set.ts';
import { TimeSampler, lossWeight, maskSample } from '../diffusion/absorbing.ts';
import { buildPriorGraph } from '../diffusion/elbo.ts';
import { Graph } from '../engine/graph.ts';
import { loadCheckpoint, saveCheckpoint } from '../engine/checkpoint.ts';
import { type AdamState, adamInit, adamUpdate, clipGradNorm, emaUpdate, warmupLr } from '../engine/optim.ts';
import { ParamStore } from '../engine/params.ts';
import { Rng } from '../engine/rng.ts';
import { decodeSafetensors, encodeSafetensors, paramsFromTensors, paramsToTensors } from '../engine/safetensors.ts';
import { TrainStep } from '../engine/trainstep.ts';
import { dropoutMasks } from '../nn/dropout.ts';
import { Scope } from '../nn/scope.ts';
import { type PriorConfig, parsePriorConfig, priorInputs, transformerConfig } from '../models/prior-config.ts';
import { type VqganConfig, parseVqganConfig } from '../models/vqgan-config.ts';
import { transformer } from '../models/transformer.ts';
import { UnmaskError } from '../errors.ts';
import { ModelError, PRIOR_KIND, TOKENIZER_FILE, checkKind } from '../inference/model-format.ts';
import { checkWeights, priorShapes } from '../inference/weights-check.ts';
import { z } from 'zod';
import { provenanceFields } from './provenance.ts';
import { parseExtra } from './train-vqgan.ts';

/** A training batch's labels: the grids' own, each replaced by the null label C with probability labelDropout. */
export function batchLabels(c: PriorConfig, data: LatentSet, indices: ArrayLike<number>, rng: Rng): BigInt64Array {
  const classes = c.classes.length;
  if (!data.labels) throw new UnmaskError(`this prior is class-conditional (${classes} classes) but the data has no labels`, 'train it on labelled data (fashion, emoji)');
  return BigInt64Array.from(Array.from(indices, (i) => BigInt(rng.next() < c.labelDropout ? classes : data.labels![i])));
}

/** Linear warm-up, then constant, or a cosine decay to lr/10 at lrDecaySteps (constant after). */
export function priorLearningRate(c: PriorConfig, step: number): number {
  if (step < c.warmup || c.lrDecaySteps <= 0) return warmupLr(c.lr, step, c.warmup);
  const span = Math.max(1, c.lrDecaySteps - c.warmup);
  const progress = Math.min(1, (step - c.warmup) / span);
  return c.lr * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * progress)));
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
  transformer(new Scope(graph), graph.input('tokens', [1, c.causal ? n - 1 : n], 'int64'), transformerConfig(c), priorInputs(graph, c, 1));
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

export class PriorTrainer {
  private program: TrainStep | null = null;
  private graph: Graph | null = null;
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
      const g = buildPriorGraph(c, c.batch, c.dropout);
      this.graph = g.graph;
      this.program = await TrainStep.compile(g.graph, g.loss, { extra: { ceSum: g.ceSum } });
    }
    const n = this.n;
    const x0 = new BigInt64Array(c.batch * n);
    const xt = new BigInt64Array(c.batch * n);
    const mask = new Float32Array(c.batch * n);
    const weight = new Float32Array(c.batch);
    const ts = new Int32Array(c.batch);
    const pts = new Float64Array(c.batch);
    const picked = new Int32Array(c.batch);
    for (let b = 0; b < c.batch; b++) {
      const i = s.rng.int(this.data.count);
      picked[b] = i;
      for (let j = 0; j < n; j++) x0[b * n + j] = BigInt(this.data.tokens[i * n + j]);
      const { t, pt } = s.times.sample(s.rng);
      ts[b] = t;
      pts[b] = pt;
      const masked = maskSample(x0.subarray(b * n, (b + 1) * n), t, n, c.codebookSize, c.maskSchedule, s.rng, xt.subarray(b * n, (b + 1) * n), mask.subarray(b * n, (b + 1) * n));
      weight[b] = lossWeight(c.loss, t, n, n, masked, pt);
    }
    const feeds: Record<string, BigInt64Array | Float32Array> = { xt, x0, mask, weight, ...dropoutMasks(this.graph!, c.dropout, s.rng) };
    if (c.classes.length) feeds.labels = batchLabels(c, this.data, picked, s.rng);
    const r = await this.program.run(feeds, s.params);
    const gradNorm = c.gradClip > 0 ? clipGradNorm(r.grads, c.gradClip) : 0;
    const lr = priorLearningRate(c, s.step);
    adamUpdate(s.params, r.grads, s.opt, { lr });
    emaUpdate(s.ema, s.params, c.emaDecay);
    s.step++;
    const ce = r.outputs.ceSum.data as Float32Array;
    let elbo = 0;
    for (let b = 0; b < c.batch; b++) {
      const term = ce[b] / ts[b] / (Math.LN2 * n); // CE_t / t in bits per token
      s.times.observe(ts[b], term * n);
      elbo += term / pts[b] / c.batch; // CE_t/t/p(t): an unbiased one-sample estimate of Σ_t E[CE_t/t] / (ln2·N)
    }
    return { step: s.step, loss: r.loss, elbo, gradNorm, lr, samplesPerSecond: c.batch / ((performance.now() - t0) / 1000) };
  }

  async release(): Promise<void> {
    await this.program?.release();
    this.program = null;
  }
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

/** state.json's extra of a prior run: the time sampler's statistics (one per t = 0..N) and the run's history. */
const PriorExtra = (times: number) =>
  z
    .object({
      sqEma: z.array(z.number().min(0)).length(times).optional(),
      counts: z.array(z.number().int().min(0)).length(times).optional(),
      history: z.array(z.object({ step: z.number().int().min(0), elbo: z.number() })).optional(),
      seconds: z.number().min(0).optional(),
      cpuSeconds: z.number().min(0).optional(),
      ...provenanceFields,
    })
    .loose();

/** Reads a prior checkpoint to resume training. */
export function loadPriorCheckpoint(dir: string): { prior: PriorConfig; tokenizer: VqganConfig; tokenizerParams: ParamStore; state: PriorTrainState; extra: z.output<ReturnType<typeof PriorExtra>> } {
  const ck = loadCheckpoint(dir);
  const raw = checkKind(ck.config, PRIOR_KIND, dir);
  const prior = parsePriorConfig(raw.prior);
  const opt = ck.optimizers?.prior;
  if (!opt || !ck.ema) throw new UnmaskError(`${dir} holds no optimizer state (an exported model?)`, 'train a new run instead of --resume');
  const bytes = ck.files?.[TOKENIZER_FILE];
  if (!bytes) throw new ModelError(`${dir} has no ${TOKENIZER_FILE}`, 'the run is incomplete; copy it again or train a new one');
  checkWeights(ck.params, priorShapes(prior), `${dir} (params)`);
  checkWeights(ck.ema, priorShapes(prior), `${dir} (EMA weights)`);
  const times = new TimeSampler(prior.latent * prior.latent, prior.timeSampling);
  const extra = parseExtra(PriorExtra(times.T + 1), ck.state.extra, dir);
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
