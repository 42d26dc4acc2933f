// A trained VQGAN for inference: images ↔ code grids. Weights are baked into the sessions (so ONNX
// Runtime can pre-pack them); sessions are built once per batch size and reused.
import * as F from '../engine/api.ts';
import { Graph } from '../engine/graph.ts';
import type { ParamStore } from '../engine/params.ts';
import { Program } from '../engine/session.ts';
import { Scope } from '../nn/scope.ts';
import { embedCodes, encoder, generator, nearestCode, codebook } from '../models/vqgan.ts';
import { type VqganConfig, latentSize } from '../models/vqgan-config.ts';

/** Images go through the sessions in chunks of this many (the last chunk is padded). */
export const CHUNK = 16;

export class Tokenizer {
  private encodeProgram: Program | null = null;
  private decodePrograms = new Map<string, Program>();

  private constructor(
    readonly config: VqganConfig,
    private params: ParamStore,
  ) {}

  static fromParams(config: VqganConfig, params: ParamStore): Tokenizer {
    return new Tokenizer(config, params);
  }

  /** Code grid side (h = w). */
  get latent(): number {
    return latentSize(this.config);
  }

  get pixelsPerToken(): number {
    return this.config.imageSize / this.latent;
  }

  private async encoderProgram(): Promise<Program> {
    if (!this.encodeProgram) {
      const c = this.config;
      const g = new Graph();
      const s = new Scope(g);
      const x = g.input('x', [CHUNK, c.channels, c.imageSize, c.imageSize]);
      const z = encoder(s.sub('encoder'), x, c); // [B, D, h, w]
      const flat = F.reshape(F.transpose(z, [0, 2, 3, 1]), [-1, c.embDim]);
      const idx = nearestCode(flat, codebook(s.sub('quantize'), c));
      g.output('codes', F.reshape(idx, [CHUNK, this.latent, this.latent]));
      this.encodeProgram = await Program.compile(g, { bake: this.subset(g) });
    }
    return this.encodeProgram;
  }

  /** Decoder session for `batch` grids of h×w codes (the decoder is convolutional, so any size works). */
  private async generatorProgram(batch: number, h: number, w: number): Promise<Program> {
    const key = `${batch}:${h}x${w}`;
    let p = this.decodePrograms.get(key);
    if (!p) {
      const c = this.config;
      const g = new Graph();
      const s = new Scope(g);
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
    const c = this.config;
    const per = c.channels * c.imageSize * c.imageSize;
    const tokens = this.latent * this.latent;
    const out = new Int32Array(n * tokens);
    const p = await this.encoderProgram();
    for (let i = 0; i < n; i += CHUNK) {
      const m = Math.min(CHUNK, n - i);
      const x = new Float32Array(CHUNK * per);
      x.set(images.subarray(i * per, (i + m) * per));
      const r = await p.run({ x });
      const codes = r.codes.data as BigInt64Array;
      for (let j = 0; j < m * tokens; j++) out[i * tokens + j] = Number(codes[j]);
    }
    return out;
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
    const batch = h === this.latent && w === this.latent ? CHUNK : 1;
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
    await Promise.all([this.encodeProgram?.release(), ...[...this.decodePrograms.values()].map((p) => p.release())]);
    this.encodeProgram = null;
    this.decodePrograms.clear();
  }
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
