// What a sampling job will take, from its sizes alone, before it starts: the memory of its token grids,
// window probabilities, decoder activations and images, and a rough time from its arithmetic. The
// decoder's self-attention is global over the latent grid (Esser et al. 2021, whose VQGAN the paper
// uses), so decoding a canvas of T tokens holds a T×T attention map: 275 GB for 512×512 tokens. That is
// the limit extend meets first, and why it must be checked before minutes of sampling, not after.
import type { PriorConfig } from '../models/prior-config.ts';
import { type VqganConfig, latentSize } from '../models/vqgan-config.ts';
import { CHUNK } from './tokenizer.ts';

/**
 * Arithmetic rate the time estimates assume. Measured on the 2-core machine that builds unmask: `unmask
 * sample --n 16` (0.52 TFLOP by this count) took 14.3 s of CPU, about 70 GFLOP/s of wall time when idle.
 */
export const ASSUMED_FLOPS = 5e10;

export interface SamplingJob {
  /** Images. */
  n: number;
  steps: number;
  /** Token grid [h, w]: the model's, or a larger canvas (extend). */
  grid: readonly [number, number];
  /** Window stride in tokens, for a canvas larger than the model's grid. */
  stride?: number;
  /** Every step's grids are kept to write frames. */
  frames?: boolean;
  /** The written grid is enlarged this many times. */
  scale?: number;
}

export interface JobEstimate {
  /** Peak memory, bytes (host arrays and ONNX Runtime's activations). */
  bytes: number;
  /** Rough wall time at ASSUMED_FLOPS. */
  seconds: number;
}

/** Memory and arithmetic of decoding one h×w token grid with the VQGAN generator (per image). */
export function decoderCost(c: VqganConfig, h: number, w: number): { bytes: number; flops: number } {
  const levels = c.chMult.length;
  let ch = c.nf * c.chMult[levels - 1];
  let r = h * w; // positions at the current level
  let res = latentSize(c); // the level's resolution in the model's own terms, as the generator tracks it
  let flops = 2 * 9 * c.embDim * ch * r;
  let attention = 0;
  let activation = ch * r;
  const resBlock = (cin: number, cout: number, at: number) => 2 * 9 * (cin * cout + cout * cout) * at + (cin === cout ? 0 : 2 * cin * cout * at);
  const attn = (cc: number, at: number) => {
    attention = Math.max(attention, at * at);
    return 8 * cc * cc * at + 4 * at * at * cc;
  };
  flops += 2 * resBlock(ch, ch, r) + attn(ch, r);
  for (let level = levels - 1; level >= 0; level--) {
    const out = c.nf * c.chMult[level];
    for (let b = 0; b < c.resBlocks; b++) {
      flops += resBlock(ch, out, r);
      ch = out;
      if (c.attnResolutions.includes(res)) flops += attn(ch, r);
    }
    activation = Math.max(activation, ch * r);
    if (level !== 0) {
      r *= 4;
      res *= 2;
      flops += 2 * 9 * ch * ch * r;
      activation = Math.max(activation, ch * r);
    }
  }
  flops += 2 * 9 * ch * c.channels * r;
  // The attention scores and their softmax, and a few live activations of the widest level, in float32.
  return { bytes: 4 * (2 * attention + 4 * activation), flops };
}

/** How many windows windowStarts (diffusion/windows.ts) places along an axis, without listing them. */
function windowCount(size: number, window: number, stride: number): number {
  const regular = Math.floor((size - window) / stride) + 1;
  return (size - window) % stride === 0 ? regular : regular + 1;
}

/** Arithmetic of one prior forward pass over one grid of N tokens (embeddings and head aside). */
function priorFlops(p: PriorConfig): number {
  const n = p.latent * p.latent;
  return p.layers * (2 * n * 12 * p.dim * p.dim + 4 * n * n * p.dim);
}

/** The memory and time a sampling job (sample, complete, inpaint, stitch, extend) will take. */
export function estimateSampling(p: PriorConfig, c: VqganConfig, job: SamplingJob): JobEstimate {
  const [h, w] = job.grid;
  const t = h * w;
  const n = job.n;
  const k = p.codebookSize;
  const base = p.latent;
  const canvas = h !== base || w !== base;
  const stride = job.stride ?? Math.max(1, Math.floor(base / 4));
  const windows = canvas ? windowCount(h, base, stride) * windowCount(w, base, stride) : 1;
  const perStep = Math.ceil(t / job.steps); // positions revealed (and queried) per step
  const perWindow = canvas ? Math.min(base * base, Math.max(1, Math.ceil((2 * perStep * base * base) / t))) : perStep;
  const f = c.imageSize / base;
  const pixels = c.channels * h * f * w * f;
  const rows = n * windows;
  const chunk = Math.min(16, 2 ** Math.ceil(Math.log2(Math.max(1, rows))));
  const host =
    n * t * (3 * 4 + 8) + // token grids (sampler rows, copies) and the int64 grid decoded
    rows * perWindow * k * 4 + // each window's log-probabilities for one step
    n * perStep * k * 12 + // their averages (float64) and the result
    rows * base * base * 4 + // window token rows
    (job.frames ? job.steps * n * t * 4 : 0) +
    n * pixels * 4 * (2 + (job.scale ?? 1) ** 2); // decoded images, the grid, its enlargement
  const prior = chunk * (p.heads * base ** 4 * 4 * 2 + base * base * p.dim * 4 * 8);
  const decode = decoderCost(c, h, w);
  const decodeBatch = canvas ? 1 : Math.min(CHUNK, n);
  const bytes = host + Math.max(prior, decode.bytes * decodeBatch);
  const flops = job.steps * Math.max(rows, 1) * priorFlops(p) + n * decode.flops;
  return { bytes, seconds: flops / ASSUMED_FLOPS };
}

/** The largest square canvas (in pixels) whose decoding fits in `bytes`, in steps of the token size. */
export function largestCanvas(p: PriorConfig, c: VqganConfig, job: Omit<SamplingJob, 'grid'>, bytes: number): number {
  const f = c.imageSize / p.latent;
  let lo = p.latent;
  let hi = p.latent;
  while (estimateSampling(p, c, { ...job, grid: [hi * 2, hi * 2] }).bytes <= bytes && hi < 1 << 20) hi *= 2;
  hi *= 2;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (estimateSampling(p, c, { ...job, grid: [mid, mid] }).bytes <= bytes) lo = mid;
    else hi = mid;
  }
  return lo * f;
}
