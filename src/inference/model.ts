// A complete unmask model: tokenizer (VQGAN) + absorbing-diffusion prior, built from the files of one
// model directory. Inference sessions bake the (EMA) weights in and are cached per batch size and
// query-size bucket. Nothing here touches the file system: in Node, `loadModel` (model-dir.ts) reads a
// directory; in the browser, the app fetches the same files and calls `UnmaskModel.fromFiles`.
import * as F from '../engine/api.ts';
import { Graph } from '../engine/graph.ts';
import type { ParamStore } from '../engine/params.ts';
import { type Precision, quantizedParams } from '../engine/quantize.ts';
import { decodeSafetensors, paramsFromTensors } from '../engine/safetensors.ts';
import { Program } from '../engine/session.ts';
import { Scope } from '../nn/scope.ts';
import type { Condition, Denoiser } from '../diffusion/sample.ts';
import { type PriorConfig, type SamplingDefaults, parsePriorConfig, parseSamplingDefaults, transformerConfig } from '../models/prior-config.ts';
import { parseVqganConfig } from '../models/vqgan-config.ts';
import { transformerHead, transformerHidden } from '../models/transformer.ts';
import { AutoregressiveSampler } from './autoregressive.ts';
import { type ModelFiles, ModelError, TOKENIZER_FILE, parseModelConfig } from './model-format.ts';
import { Tokenizer } from './tokenizer.ts';
import { checkWeights, priorShapes } from './weights-check.ts';

export interface DenoiserOptions {
  /** Most grids per session run (default 16). */
  maxChunk?: number;
  /**
   * The transformer body's linear layers: 'fp32' (default) or 'int8' (weights quantized once per output
   * channel, activations per call; about twice as fast on CPUs with 8-bit dot products, e.g. AVX512-VNNI).
   * The output head stays in float32 either way.
   */
  precision?: Precision;
}

/**
 * Runs the prior on chunks of at most `maxChunk` grids (a smaller batch gets a smaller power-of-two
 * chunk, so four images don't pay for sixteen). The transformer body runs once per step on every
 * position; ln_f's output then goes through the head only at the queried positions, in a small session
 * per power-of-two bucket of query counts (cheap to build, so odd counts never rebuild the body).
 * A class-conditional prior reads a label per row; with classifier-free guidance (w ≠ 0) each chunk's
 * rows run twice in one doubled batch, with their labels and with the null label, and the head session
 * combines the logits as (1 + w)·conditional − w·unconditional before the log-softmax.
 */
export class PriorDenoiser implements Denoiser {
  readonly grid: readonly [number, number];
  readonly codebookSize: number;
  readonly maxChunk: number;
  readonly precision: Precision;
  private bodies = new Map<number, Program>();
  private heads = new Map<string, Program>();
  /** The body's weights as baked: `params`, or their int8 quantization (made once, on first use). */
  private bodyParams: ParamStore | null = null;

  constructor(
    readonly config: PriorConfig,
    private params: ParamStore,
    opts: DenoiserOptions = {},
  ) {
    this.maxChunk = opts.maxChunk ?? 16;
    this.precision = opts.precision ?? 'fp32';
    this.grid = [config.latent, config.latent];
    this.codebookSize = config.codebookSize;
  }

  private get n(): number {
    return this.config.latent * this.config.latent;
  }

  private get classes(): number {
    return this.config.classes.length;
  }

  /** Hidden states for `rows` grids (and labels, when class-conditional). */
  private async bodyProgram(rows: number): Promise<Program> {
    let p = this.bodies.get(rows);
    if (!p) {
      const g = new Graph();
      const tokens = g.input('tokens', [rows, this.n], 'int64');
      const labels = this.classes ? g.input('labels', [rows], 'int64') : undefined;
      g.output('hidden', transformerHidden(new Scope(g, '', this.precision), tokens, transformerConfig(this.config), { labels })); // [B, N, d]
      this.bodyParams ??= this.precision === 'int8' ? quantizedParams(this.params, g) : this.params;
      this.bodyParams.assertCovers(g);
      p = await Program.compile(g, { bake: this.bodyParams });
      this.bodies.set(rows, p);
    }
    return p;
  }

  /** log-probabilities at `m` positions per grid; guided: hidden holds 2·chunk rows (conditional, then unconditional). */
  private async headProgram(chunk: number, m: number, guided: boolean): Promise<Program> {
    const key = `${chunk}:${m}:${guided}`;
    let p = this.heads.get(key);
    if (!p) {
      const d = this.config.dim;
      const cfg = transformerConfig(this.config);
      const g = new Graph();
      const rows = guided ? 2 * chunk : chunk;
      const hidden = g.input('hidden', [rows, this.n, d]);
      const positions = g.input('positions', [chunk, m], 'int64');
      const at = F.expand(F.unsqueeze(guided ? F.concat([positions, positions], 0) : positions, -1), [rows, m, d]);
      let logits = transformerHead(new Scope(g), F.gatherElements(hidden, at, 1), cfg); // [rows, M, K]
      if (guided) {
        const w = g.input('guidance', [1]);
        const cond = F.slice(logits, [0], [0], [chunk]);
        const uncond = F.slice(logits, [0], [chunk], [rows]);
        logits = F.sub(F.mul(cond, F.add(w, 1)), F.mul(uncond, w)); // (1 + w)·cond − w·uncond
      }
      g.output('logp', F.logSoftmax(logits, -1)); // [B, M, K]
      p = await Program.compile(g, { bake: this.params });
      this.heads.set(key, p);
    }
    return p;
  }

  async logProbs(tokens: Int32Array, batch: number, positions: Int32Array, m: number, condition?: Condition): Promise<Float32Array> {
    const n = this.n;
    const k = this.codebookSize;
    const classes = this.classes;
    if (condition && condition.labels.length !== batch) throw new ModelError(`${condition.labels.length} labels for ${batch} grids`, 'give one label per grid');
    if (condition && !classes && condition.labels.some((l) => l !== 0)) throw new ModelError('this prior is unconditional: it takes no class labels', 'sample without a class');
    const guided = classes > 0 && !!condition && condition.guidance !== 0;
    const pow2 = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));
    const bucket = Math.min(n, pow2(m));
    const chunk = Math.min(this.maxChunk, pow2(batch));
    const rows = guided ? 2 * chunk : chunk;
    const body = await this.bodyProgram(rows);
    const head = await this.headProgram(chunk, bucket, guided);
    const out = new Float32Array(batch * m * k);
    for (let start = 0; start < batch; start += chunk) {
      const used = Math.min(chunk, batch - start);
      const t = new BigInt64Array(rows * n).fill(BigInt(k));
      const labels = new BigInt64Array(rows).fill(BigInt(classes));
      const p = new BigInt64Array(chunk * bucket);
      for (let r = 0; r < used; r++) {
        for (let j = 0; j < n; j++) t[r * n + j] = BigInt(tokens[(start + r) * n + j]);
        if (guided) t.copyWithin((chunk + r) * n, r * n, (r + 1) * n);
        if (classes && condition) labels[r] = BigInt(condition.labels[start + r]);
        for (let j = 0; j < bucket; j++) p[r * bucket + j] = BigInt(positions[(start + r) * m + (j % m)]);
      }
      const feeds: Record<string, BigInt64Array> = { tokens: t };
      if (classes) feeds.labels = labels;
      const { hidden } = await body.run(feeds);
      const headFeeds: Record<string, BigInt64Array | Float32Array | typeof hidden> = { hidden, positions: p };
      if (guided) headFeeds.guidance = Float32Array.of(condition!.guidance);
      const lp = (await head.run(headFeeds)).logp.data as Float32Array;
      for (let r = 0; r < used; r++) out.set(lp.subarray(r * bucket * k, (r * bucket + m) * k), (start + r) * m * k);
    }
    return out;
  }

  async release(): Promise<void> {
    await Promise.all([...this.bodies.values(), ...this.heads.values()].map((p) => p.release()));
    this.bodies.clear();
    this.heads.clear();
  }
}

export class UnmaskModel {
  constructor(
    /** Where the model came from: its directory, or what the browser fetched it from. */
    readonly dir: string,
    readonly tokenizer: Tokenizer,
    readonly prior: PriorConfig,
    readonly priorParams: ParamStore,
    readonly card: string | null,
    /** The sampling settings the model recommends (from its evaluation), if it records any. */
    readonly sampling: SamplingDefaults | null = null,
  ) {}

  /** Builds a model from its files' contents; `source` (a directory, a URL) names it in errors. */
  static fromFiles(source: string, files: ModelFiles): UnmaskModel {
    const raw = parseModelConfig(files.config, source);
    const prior = parsePriorConfig(raw.prior);
    const vq = parseVqganConfig(raw.tokenizer);
    const params = (bytes: Uint8Array, what: string) => {
      const label = `${source} (${what})`;
      return paramsFromTensors(decodeSafetensors(bytes, label).tensors, label);
    };
    const tokenizer = Tokenizer.fromParams(vq, params(files.tokenizer, TOKENIZER_FILE), `${source} (${TOKENIZER_FILE})`);
    const priorParams = params(files.weights, 'prior weights');
    checkWeights(priorParams, priorShapes(prior), `${source} (prior weights)`);
    return new UnmaskModel(source, tokenizer, prior, priorParams, files.card ?? null, parseSamplingDefaults(raw.sampling));
  }

  /** Class names of a class-conditional model (empty when unconditional); label i is classes[i]. */
  get classes(): readonly string[] {
    return this.prior.classes;
  }

  /** The index of a class, by name (case-insensitive). */
  classIndex(name: string): number {
    const classes = this.classes;
    if (!classes.length) throw new ModelError(`${this.dir} is unconditional: it has no classes`, 'sample without a class');
    const i = classes.findIndex((c) => c.toLowerCase() === name.trim().toLowerCase());
    if (i < 0) throw new ModelError(`no class '${name}' in ${this.dir}`, `use one of: ${classes.join(', ')}; or any (drawn as in the training data), none (the null label)`);
    return i;
  }

  private denoisers = new Map<Precision, PriorDenoiser>();
  private autoregressiveCache: AutoregressiveSampler | null = null;

  /** The absorbing prior's denoiser, for every task that fills masked tokens (one per precision, kept). */
  denoiser(precision: Precision = 'fp32'): PriorDenoiser {
    if (this.prior.causal) {
      throw new ModelError(`${this.dir} holds the autoregressive baseline (a causal prior): it only generates, left to right`, 'complete, inpaint, stitch and extend need an absorbing prior; pass one');
    }
    let d = this.denoisers.get(precision);
    if (!d) this.denoisers.set(precision, (d = new PriorDenoiser(this.prior, this.priorParams, { precision })));
    return d;
  }

  /** The causal prior's key/value-cached sampler. */
  autoregressive(): AutoregressiveSampler {
    this.autoregressiveCache ??= new AutoregressiveSampler(this.prior, this.priorParams);
    return this.autoregressiveCache;
  }

  /** Releases the prior's sessions (they are rebuilt on demand); the tokenizer stays loaded. */
  async releasePrior(): Promise<void> {
    await Promise.all([...[...this.denoisers.values()].map((d) => d.release()), this.autoregressiveCache?.release()]);
  }

  async release(): Promise<void> {
    await Promise.all([this.releasePrior(), this.tokenizer.release()]);
  }
}
