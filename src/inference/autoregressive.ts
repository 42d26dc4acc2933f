// The autoregressive baseline: the prior's causal twin (same transformer code, `causal: true`),
// trained by teacher forcing on next-token cross-entropy over the cached latents
// (training/train-autoregressive.ts) and sampled left to right in raster order with a key/value cache.
// Its validation NLL is exact, so it is the yardstick for the absorbing prior's ELBO (an upper bound
// on the same quantity), and its N-step sampler the yardstick for the absorbing sampler's speed.
import type { LatentSet } from '../data/latent-set.ts';
import { SampleError } from '../diffusion/sample.ts';
import { drawTempered } from '../diffusion/samplers.ts';
import * as F from '../engine/api.ts';
import { Graph, type Tensor } from '../engine/graph.ts';
import type { ParamStore } from '../engine/params.ts';
import { Rng } from '../engine/rng.ts';
import { Program } from '../engine/session.ts';
import { type PriorConfig, nullLabels, priorInputs, transformerConfig } from '../models/prior-config.ts';
import { transformer, transformerStep } from '../models/transformer.ts';
import { crossEntropy } from '../nn/losses.ts';
import { Scope } from '../nn/scope.ts';
import type { UnmaskModel } from './model.ts';
import { ModelError } from './model-format.ts';

export function assertCausal(c: PriorConfig): void {
  if (!c.causal) throw new ModelError('this prior is the absorbing (bidirectional) model, not the autoregressive twin', 'use the absorbing sampler and ELBO');
}

/**
 * Teacher forcing on x₀ [B, N]: the model reads x₀[:, :N−1] after start_tok, so logits at i predict x₀[i].
 * `nll` [B] is −log p(x₀) in nats per grid; `loss` the mean cross-entropy per token.
 */
export function buildAutoregressiveGraph(c: PriorConfig, batch: number, dropout = 0): { graph: Graph; loss: Tensor; nll: Tensor } {
  assertCausal(c);
  const n = c.latent * c.latent;
  const graph = new Graph();
  const x0 = graph.input('x0', [batch, n], 'int64');
  const logits = transformer(new Scope(graph), F.slice(x0, [1], [0], [n - 1]), transformerConfig(c), priorInputs(graph, c, batch, dropout)); // [B, N, K]
  const ce = crossEntropy(logits, x0); // [B, N]
  return { graph, loss: F.reduceMean(ce), nll: F.reduceSum(ce, [1]) };
}

/** −log₂ p(x₀) per token, averaged over `latents`: exact for an autoregressive model. */
export async function validationNll(c: PriorConfig, params: ParamStore, latents: LatentSet, batch = 16): Promise<number> {
  const n = c.latent * c.latent;
  const rows = Math.min(batch, latents.count);
  const g = buildAutoregressiveGraph(c, rows);
  const program = await Program.compile(g.graph, { outputs: { nll: g.nll }, bake: params });
  let total = 0;
  try {
    for (let start = 0; start < latents.count; start += rows) {
      const used = Math.min(rows, latents.count - start);
      const x0 = new BigInt64Array(rows * n);
      // a short last chunk repeats its first grid in the spare rows, which are not counted
      for (let b = 0; b < rows; b++) for (let j = 0; j < n; j++) x0[b * n + j] = BigInt(latents.tokens[(start + (b < used ? b : 0)) * n + j]);
      const feeds: Record<string, BigInt64Array> = { x0 };
      if (c.classes.length) feeds.labels = nullLabels(c, rows);
      const nll = (await program.run(feeds)).nll.data as Float32Array;
      for (let b = 0; b < used; b++) total += nll[b];
    }
  } finally {
    await program.release();
  }
  return total / (latents.count * n * Math.LN2);
}

export interface AutoregressiveSampleOptions {
  /** Grids to sample. */
  n: number;
  /** Default 1. */
  temperature?: number;
  seed?: number;
  /** A class index per grid for a class-conditional model (the number of classes: unconditional). */
  labels?: Int32Array;
  /**
   * Classifier-free guidance weight w with `labels`: each grid runs in one doubled batch with its label
   * and with the null label, and token t is drawn from softmax((1 + w)·log p(·|c) − w·log p(·|∅)). Default 0.
   */
  guidance?: number;
  /** After every position, with the grids so far (codebookSize where not yet generated); a returned promise is awaited. */
  onStep?: (info: { step: number; steps: number; tokens: Int32Array; revealed: number }) => void | Promise<void>;
}

/**
 * Left-to-right sampling with a key/value cache. One step program per batch size (weights baked in)
 * serves all N positions: it takes each layer's cache [B, H, N, d_head] as an input and returns only the
 * new key/value row, which the host writes into its cache at t, so no step copies or rewrites a cache.
 */
export class AutoregressiveSampler {
  private programs = new Map<number, Program>();

  constructor(
    readonly config: PriorConfig,
    private params: ParamStore,
    /** Grids per step-program run. */
    readonly chunk = 16,
  ) {
    assertCausal(config);
  }

  private async stepProgram(batch: number): Promise<Program> {
    let p = this.programs.get(batch);
    if (!p) {
      const { layers, heads, dim, latent } = this.config;
      const g = new Graph();
      const prev = g.input('prev', [batch, 1], 'int64');
      const t = g.input('t', [1], 'int64');
      const labels = this.config.classes.length ? g.input('labels', [batch], 'int64') : undefined;
      const caches = Array.from({ length: layers }, (_, i) => ({
        key: g.input(`cache.${i}.key`, [batch, heads, latent * latent, dim / heads]),
        value: g.input(`cache.${i}.value`, [batch, heads, latent * latent, dim / heads]),
      }));
      const step = transformerStep(new Scope(g), prev, t, caches, transformerConfig(this.config), labels);
      g.output('logp', F.logSoftmax(step.logits, -1)); // [B, K]
      step.cache.forEach((c, i) => {
        g.output(`key.${i}`, c.key); // [B, H, 1, d_head]
        g.output(`value.${i}`, c.value);
      });
      p = await Program.compile(g, { bake: this.params });
      this.programs.set(batch, p);
    }
    return p;
  }

  /** A fresh decoding state for `batch` sequences (empty caches, position 0), labelled `labels` [batch] when class-conditional (default: the null label). */
  async decoder(batch: number, labels?: Int32Array): Promise<Decoder> {
    return new Decoder(await this.stepProgram(batch), this.config, batch, labels);
  }

  /** Token grids [n, N] in raster order. */
  async sample(o: AutoregressiveSampleOptions): Promise<Int32Array> {
    const { n: count, seed = 0, temperature = 1 } = o;
    if (!Number.isInteger(count) || count < 1) throw new SampleError(`n must be a whole number ≥ 1, got ${count}`, 'ask for 1 or more images');
    if (!(temperature > 0) || !Number.isFinite(temperature)) throw new SampleError(`temperature must be > 0, got ${temperature}`, 'pass a positive --temp');
    const k = this.config.codebookSize;
    const n = this.config.latent * this.config.latent;
    const rowsPer = Math.min(this.chunk, count);
    const chunks = [];
    if (o.labels && o.labels.length !== count) throw new SampleError(`${o.labels.length} labels for ${count} grids`, 'give one label per grid');
    const w = o.guidance ?? 0;
    if (!(w >= 0) || !Number.isFinite(w)) throw new SampleError(`guidance must be a number ≥ 0, got ${o.guidance}`, 'pass --guidance 0 or more');
    const guided = w !== 0 && !!o.labels && this.config.classes.length > 0;
    // Guided: rows rowsPer.. of the doubled batch hold the same grids with the null label.
    const width = guided ? 2 * rowsPer : rowsPer;
    for (let first = 0; first < count; first += rowsPer) {
      const rows = Math.min(rowsPer, count - first);
      const labels = o.labels && Int32Array.from({ length: width }, (_, b) => (b < rowsPer ? o.labels![first + Math.min(b, rows - 1)] : this.config.classes.length));
      chunks.push({ first, rows, prev: new BigInt64Array(width), decoder: await this.decoder(width, labels) });
    }
    const out = new Int32Array(count * n).fill(k);
    const rng = new Rng(seed);
    const mixed = new Float32Array(k);
    for (let t = 0; t < n; t++) {
      for (const ch of chunks) {
        const logp = await ch.decoder.next(ch.prev);
        for (let b = 0; b < ch.rows; b++) {
          let token: number;
          if (guided) {
            for (let v = 0; v < k; v++) mixed[v] = (1 + w) * logp[b * k + v] - w * logp[(rowsPer + b) * k + v];
            [token] = drawTempered(mixed, 0, k, temperature, rng);
            ch.prev[rowsPer + b] = BigInt(token);
          } else [token] = drawTempered(logp, b * k, k, temperature, rng);
          out[(ch.first + b) * n + t] = token;
          ch.prev[b] = BigInt(token);
        }
      }
      await o.onStep?.({ step: t + 1, steps: n, tokens: out, revealed: count });
    }
    return out;
  }

  async release(): Promise<void> {
    await Promise.all([...this.programs.values()].map((p) => p.release()));
    this.programs.clear();
  }
}

/** The key/value caches of `batch` sequences, advanced one position per `next`. */
export class Decoder {
  /** The position the next call predicts. */
  t = 0;
  private readonly n: number;
  private readonly dh: number;
  private readonly keys: Float32Array[];
  private readonly values: Float32Array[];

  private readonly labels: BigInt64Array | null;

  constructor(
    private program: Program,
    config: PriorConfig,
    readonly batch: number,
    labels?: Int32Array,
  ) {
    this.n = config.latent * config.latent;
    const classes = config.classes.length;
    this.labels = classes ? BigInt64Array.from({ length: batch }, (_, b) => BigInt(labels?.[b] ?? classes)) : null;
    this.dh = config.dim / config.heads;
    const size = batch * config.heads * this.n * this.dh;
    this.keys = Array.from({ length: config.layers }, () => new Float32Array(size));
    this.values = Array.from({ length: config.layers }, () => new Float32Array(size));
  }

  /** log p(token t | tokens < t) [batch, K], given each row's token t − 1 in `prev` [batch] (ignored at t = 0). */
  async next(prev: BigInt64Array): Promise<Float32Array> {
    if (this.t >= this.n) throw new SampleError(`the decoder has produced all ${this.n} positions`, 'start a new decoder for the next grids');
    const feeds: Record<string, Float32Array | BigInt64Array> = { prev, t: BigInt64Array.of(BigInt(this.t)) };
    if (this.labels) feeds.labels = this.labels;
    this.keys.forEach((c, i) => (feeds[`cache.${i}.key`] = c));
    this.values.forEach((c, i) => (feeds[`cache.${i}.value`] = c));
    const r = await this.program.run(feeds);
    this.keys.forEach((c, i) => this.store(c, r[`key.${i}`].data as Float32Array));
    this.values.forEach((c, i) => this.store(c, r[`value.${i}`].data as Float32Array));
    this.t++;
    return r.logp.data as Float32Array;
  }

  /** cache [B·H, N, d_head] at position t ← row [B·H, 1, d_head]. */
  private store(cache: Float32Array, row: Float32Array): void {
    const { dh, n, t } = this;
    for (let bh = 0; bh < row.length / dh; bh++) cache.set(row.subarray(bh * dh, (bh + 1) * dh), (bh * n + t) * dh);
  }
}

/** `n` grids [n, N] from a model whose prior is the causal twin. */
export function sampleAutoregressive(model: Pick<UnmaskModel, 'autoregressive'>, o: AutoregressiveSampleOptions): Promise<Int32Array> {
  return model.autoregressive().sample(o);
}
