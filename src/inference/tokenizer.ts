// A trained VQGAN for inference: images ↔ code grids. Weights are baked into the sessions (so ONNX
// Runtime can pre-pack them); sessions are built once per batch size and reused.
import * as F from '../engine/api.ts';
import { Graph, type Tensor } from '../engine/graph.ts';
import type { ParamStore } from '../engine/params.ts';
import { Program } from '../engine/session.ts';
import { Scope } from '../nn/scope.ts';
import { LOG_SIGMA_PARAM, codebook, embedCodes, encoder, gaussianNll, generator, nearestCode, probabilisticGenerator } from '../models/vqgan.ts';
import { type VqganConfig, latentSize } from '../models/vqgan-config.ts';
import { ModelError } from './model-format.ts';
import { checkWeights, tokenizerShapes } from './weights-check.ts';

/** Most images per session run (the last chunk is padded up to a power of two). */
export const CHUNK = 16;
/**
 * Most pixels per session run: activations scale with them (a 256-px image has 64 times the
 * elements of a 32-px one at every layer), so large images go through a few at a time.
 */
const CHUNK_PIXELS = CHUNK * 64 * 64;

export class Tokenizer {
  private encodePrograms = new Map<number, Program>();
  private nllPrograms = new Map<number, Program>();
  private decodePrograms = new Map<string, Program>();

  private constructor(
    readonly config: VqganConfig,
    private params: ParamStore,
  ) {}

  /**
   * A tokenizer over `params`, after checking they are the ones `config` declares (`source` names them
   * in errors); a VQGAN run's discriminator (disc.*) may ride along, unused.
   */
  static fromParams(config: VqganConfig, params: ParamStore, source = 'the tokenizer weights'): Tokenizer {
    checkWeights(params, tokenizerShapes(config, params.has(LOG_SIGMA_PARAM)), source, (name) => name.startsWith('disc.'));
    return new Tokenizer(config, params);
  }

  /** Code grid side (h = w). */
  get latent(): number {
    return latentSize(this.config);
  }

  get pixelsPerToken(): number {
    return this.config.imageSize / this.latent;
  }

  /** Whether the generator has the reference's log σ head, which gives p(x | z) and so bits per dimension. */
  get hasLikelihoodHead(): boolean {
    return this.params.has(LOG_SIGMA_PARAM);
  }

  /** Images per session run for `n` images of `pixels` each: a power of two, within the budgets. */
  private chunkFor(n: number, pixels: number): number {
    const most = Math.max(1, Math.min(CHUNK, Math.floor(CHUNK_PIXELS / pixels)));
    return Math.min(2 ** Math.floor(Math.log2(most)), 2 ** Math.ceil(Math.log2(Math.max(1, n))));
  }

  /** Codes [B, h, w] of images x [B, C, H, W]. */
  private codesOf(s: Scope, x: Tensor): Tensor {
    const c = this.config;
    const z = encoder(s.sub('encoder'), x, c); // [B, D, h, w]
    const flat = F.reshape(F.transpose(z, [0, 2, 3, 1]), [-1, c.embDim]);
    return F.reshape(nearestCode(flat, codebook(s.sub('quantize'), c)), [x.shape[0], this.latent, this.latent]);
  }

  private async encoderProgram(batch: number): Promise<Program> {
    let p = this.encodePrograms.get(batch);
    if (!p) {
      const c = this.config;
      const g = new Graph();
      g.output('codes', this.codesOf(new Scope(g, '', 'fp32'), g.input('x', [batch, c.channels, c.imageSize, c.imageSize])));
      p = await Program.compile(g, { bake: this.subset(g) });
      this.encodePrograms.set(batch, p);
    }
    return p;
  }

  /**
   * −log p(x | z) per image, z its codes: the decoder's Gaussian N(mean, σ²) per pixel and channel
   * (mean the decoded image before clamping, log σ from the head), summed over the image, in nats.
   */
  private async nllProgram(batch: number): Promise<Program> {
    let p = this.nllPrograms.get(batch);
    if (!p) {
      const c = this.config;
      const g = new Graph();
      const s = new Scope(g, '', 'fp32'); // inference: fused kernels (GroupNorm as InstanceNormalization)
      const x = g.input('x', [batch, c.channels, c.imageSize, c.imageSize]);
      const codes = this.codesOf(s, x);
      const { mean, logSigma } = probabilisticGenerator(s.sub('generator'), embedCodes(s.sub('quantize'), codes, c), c);
      g.output('codes', codes);
      g.output('nll', F.reduceSum(gaussianNll(x, mean, logSigma), [1, 2, 3])); // [B]
      p = await Program.compile(g, { bake: this.subset(g) });
      this.nllPrograms.set(batch, p);
    }
    return p;
  }

  /** Decoder session for `batch` grids of h×w codes (the decoder is convolutional, so any size works). */
  private async generatorProgram(batch: number, h: number, w: number): Promise<Program> {
    const key = `${batch}:${h}x${w}`;
    let p = this.decodePrograms.get(key);
    if (!p) {
      const c = this.config;
      const g = new Graph();
      const s = new Scope(g, '', 'fp32'); // inference: fused kernels (GroupNorm as InstanceNormalization)
      const codes = g.input('codes', [batch, h, w], 'int64');
      const img = generator(s.sub('generator'), embedCodes(s.sub('quantize'), codes, c), c);
      g.output('images', F.minimum(F.maximum(img, 0), 1));
      p = await Program.compile(g, { bake: this.subset(g) });
      this.decodePrograms.set(key, p);
    }
    return p;
  }

  private subset(g: Graph): ParamStore {
    this.params.assertCovers(g);
    return this.params;
  }

  /** Images [n, C, H, W] in [0, 1] → codes [n, h, w] (row-major). */
  async encode(images: Float32Array, n: number): Promise<Int32Array> {
    const tokens = this.latent * this.latent;
    const out = new Int32Array(n * tokens);
    await this.eachChunk(images, n, (b) => this.encoderProgram(b), (r, i, m) => copyCodes(r.codes.data as BigInt64Array, out, i * tokens, m * tokens));
    return out;
  }

  /**
   * The Gaussian negative log-likelihood −log p(x | z) of each image given its own codes, in nats
   * (with the codes); needs the log σ head (see `hasLikelihoodHead`).
   */
  async nll(images: Float32Array, n: number): Promise<{ codes: Int32Array; nats: Float64Array }> {
    if (!this.hasLikelihoodHead) throw new ModelError('this tokenizer has no log σ head, which p(x | z) needs', "import a reference VQGAN that has 'generator.logsigma'");
    const tokens = this.latent * this.latent;
    const codes = new Int32Array(n * tokens);
    const nats = new Float64Array(n);
    await this.eachChunk(images, n, (b) => this.nllProgram(b), (r, i, m) => {
      copyCodes(r.codes.data as BigInt64Array, codes, i * tokens, m * tokens);
      nats.set((r.nll.data as Float32Array).subarray(0, m), i);
    });
    return { codes, nats };
  }

  /** Runs `program` over the images in padded chunks; `take` gets each chunk's result, start and count. */
  private async eachChunk(images: Float32Array, n: number, program: (batch: number) => Promise<Program>, take: (r: Record<string, { data: unknown }>, start: number, count: number) => void): Promise<void> {
    const c = this.config;
    const per = c.channels * c.imageSize * c.imageSize;
    const batch = this.chunkFor(n, c.imageSize * c.imageSize);
    const p = await program(batch);
    for (let i = 0; i < n; i += batch) {
      const m = Math.min(batch, n - i);
      const x = new Float32Array(batch * per);
      x.set(images.subarray(i * per, (i + m) * per));
      take(await p.run({ x }), i, m);
    }
  }

  /** Codes [n, latent, latent] → images [n, C, H, W] clamped to [0, 1]. */
  decode(codes: Int32Array, n: number): Promise<Float32Array> {
    return this.decodeAt(codes, n, this.latent, this.latent);
  }

  /** Codes [n, h, w] of any grid size → images [n, C, h·f, w·f] clamped to [0, 1]. */
  async decodeAt(codes: Int32Array, n: number, h: number, w: number): Promise<Float32Array> {
    const c = this.config;
    const f = this.pixelsPerToken;
    const per = c.channels * h * f * w * f;
    const tokens = h * w;
    const batch = h === this.latent && w === this.latent ? this.chunkFor(n, c.imageSize * c.imageSize) : 1;
    const out = new Float32Array(n * per);
    const p = await this.generatorProgram(batch, h, w);
    for (let i = 0; i < n; i += batch) {
      const m = Math.min(batch, n - i);
      const chunk = new BigInt64Array(batch * tokens);
      for (let j = 0; j < m * tokens; j++) chunk[j] = BigInt(codes[i * tokens + j]);
      const r = await p.run({ codes: chunk });
      out.set((r.images.data as Float32Array).subarray(0, m * per), i * per);
    }
    return out;
  }

  async reconstruct(images: Float32Array, n: number): Promise<Float32Array> {
    return this.decode(await this.encode(images, n), n);
  }

  async release(): Promise<void> {
    const programs = [this.encodePrograms, this.nllPrograms, this.decodePrograms];
    await Promise.all(programs.flatMap((m) => [...m.values()].map((p) => p.release())));
    for (const m of programs) m.clear();
  }
}

/** A session's int64 codes → the host's Int32Array: the first `count` of `from` at `at`. */
function copyCodes(from: BigInt64Array, to: Int32Array, at: number, count: number): void {
  for (let j = 0; j < count; j++) to[at + j] = Number(from[j]);
}

/** Mean PSNR (dB) over images in [0, 1]. */
export function psnr(a: Float32Array, b: Float32Array, n: number): number {
  const per = a.length / n;
  let total = 0;
  for (let i = 0; i < n; i++) {
    let se = 0;
    for (let j = i * per; j < (i + 1) * per; j++) se += (a[j] - b[j]) ** 2;
    total += 10 * Math.log10(1 / Math.max(se / per, 1e-10));
  }
  return total / n;
}
