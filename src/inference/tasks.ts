// Every creative task is the same sampler with some tokens given (docs/method.md §3): generation (none),
// completion (a region kept), inpainting (all but a region kept), stitching (two images' outer parts
// kept, the seam generated) and extension (a grid larger than the model, through window averaging).
import type { Images } from '../data/images.ts';
import { type Condition, type Denoiser, sampleTokens } from '../diffusion/sample.ts';
import type { SamplerName } from '../diffusion/samplers.ts';
import { WindowDenoiser } from '../diffusion/windows.ts';
import { Rng } from '../engine/rng.ts';
import type { Precision } from '../engine/quantize.ts';
import { ANY_CLASS, NO_CLASS } from '../models/prior-config.ts';
import { sampleAutoregressive } from './autoregressive.ts';
import type { UnmaskModel } from './model.ts';
import { UnmaskError } from '../errors.ts';

export class TaskError extends UnmaskError {
  override name = 'TaskError';
}

export interface TaskOptions {
  /** Results to generate (each from the same given tokens). Default 1. */
  n?: number;
  /** Sampling steps, 1..N; a causal prior always takes N, one token each. */
  steps: number;
  temperature?: number;
  /** The confidence order's choice temperature (default 4.5, MaskGIT's). */
  choiceTemperature?: number;
  sampler?: SamplerName;
  seed?: number;
  /** The prior's linear layers: 'fp32' (default) or 'int8' (faster on CPUs with 8-bit dot products). */
  precision?: Precision;
  /**
   * Class of every result, by name (case-insensitive; `model.classes` lists them) — class-conditional
   * models only; or `any` (each result's class drawn as in the training data; the default of `generate`)
   * or `none` (the null label; the default of tasks with given tokens).
   */
  label?: string;
  /** A class index per result (`n` of them; the number of classes means unconditional), e.g. drawn by an evaluation; instead of `label`. */
  labels?: Int32Array;
  /** Classifier-free guidance weight w ≥ 0 for labelled results: logits (1 + w)·conditional − w·unconditional. Default 0. */
  guidance?: number;
  /** Per-step progress with the token grids (mask id where still unknown); a returned promise is awaited. */
  onStep?: (info: { step: number; steps: number; tokens: Int32Array; revealed: number }) => void | Promise<void>;
}

export interface TaskResult {
  images: Images;
  /** Final token grids [n, h·w]. */
  tokens: Int32Array;
  /** Which tokens were given (1) or generated (0), [h·w]. */
  known: Uint8Array;
  grid: [number, number];
}

/** A box in pixels. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * The labels and guidance a task's options ask for (undefined: no label at all). Without a label, a
 * class-conditional prior generating from scratch draws each result's class from its training data's
 * class frequencies (`any`: samples of the whole data, better than the null label, which saw only the
 * dropped-out share of training); a task with given tokens takes the null label (`none`), so the
 * context decides what the generated part shows.
 */
export function taskCondition(model: UnmaskModel, o: TaskOptions, n: number, unlabelled: typeof ANY_CLASS | typeof NO_CLASS = NO_CLASS): Condition | undefined {
  const guidance = o.guidance ?? 0;
  if (!(guidance >= 0) || !Number.isFinite(guidance)) throw new TaskError(`guidance must be a number ≥ 0, got ${o.guidance}`, 'pass --guidance 0 or more');
  const classes = model.classes.length;
  if (o.labels) {
    if (o.labels.length !== n) throw new TaskError(`${o.labels.length} labels for ${n} results`, 'give one label per result');
    if (o.labels.some((l) => !Number.isInteger(l) || l < 0 || l > classes)) throw new TaskError(`labels must be class indices 0..${classes}`, `give class indices below ${classes}, or ${classes} for unconditional`);
    return { labels: o.labels, guidance };
  }
  const label = o.label?.trim().toLowerCase() ?? (classes ? unlabelled : undefined);
  if ((label === undefined || label === NO_CLASS) && guidance !== 0) throw new TaskError('guidance steers towards a class, and no class was given', 'give a class too (--class NAME)');
  if (label === undefined) return undefined;
  if (!classes) throw new TaskError(`${model.dir} is unconditional: it has no classes`, 'sample without a class');
  if (label === NO_CLASS) return { labels: new Int32Array(n).fill(classes), guidance: 0 };
  if (label === ANY_CLASS) return { labels: drawClasses(model.prior.classFrequencies, classes, n, o.seed ?? 0), guidance };
  return { labels: new Int32Array(n).fill(model.classIndex(o.label!)), guidance };
}

/** `n` class indices drawn from `frequencies` (every class alike when there are none), seeded. */
export function drawClasses(frequencies: readonly number[], classes: number, n: number, seed: number): Int32Array {
  const p = frequencies.length === classes ? frequencies : new Array<number>(classes).fill(1);
  const total = p.reduce((a, b) => a + b, 0);
  // a stream of its own, so that drawing classes does not shift the sampler's random numbers
  const rng = new Rng(seed ^ 0x6c61626c);
  return Int32Array.from({ length: n }, () => {
    let u = rng.next() * total;
    for (let c = 0; c < classes; c++) if ((u -= p[c]) < 0) return c;
    return classes - 1;
  });
}

/** Samples `n` grids that agree with `given` wherever `known` is 1, then decodes them. */
async function fill(model: UnmaskModel, denoiser: Denoiser, given: Int32Array, known: Uint8Array, o: TaskOptions, unlabelled: typeof ANY_CLASS | typeof NO_CLASS = NO_CLASS): Promise<TaskResult> {
  const [h, w] = denoiser.grid;
  const n = o.n ?? 1;
  const k = model.prior.codebookSize;
  const grids = new Int32Array(n * h * w);
  for (let b = 0; b < n; b++) for (let i = 0; i < h * w; i++) grids[b * h * w + i] = known[i] ? given[i] : k;
  const tokens = await sampleTokens(denoiser, grids, n, { ...o, condition: taskCondition(model, o, n, unlabelled) });
  const images = await decodeGrid(model, tokens, n, h, w);
  return { images, tokens, known, grid: [h, w] };
}

/** Token grids [n, h, w] → images, at any grid size (the decoder is convolutional). */
export async function decodeGrid(model: UnmaskModel, tokens: Int32Array, n: number, h: number, w: number): Promise<Images> {
  const tk = model.tokenizer;
  const f = tk.pixelsPerToken;
  const data = await tk.decodeAt(tokens, n, h, w);
  return { n, channels: tk.config.channels, height: h * f, width: w * f, data };
}

/**
 * Token grids [n, h, w] part-way through sampling → images, with every still-masked token's patch
 * mid-grey: how a grid looks after each step.
 */
export async function decodePartial(model: UnmaskModel, tokens: Int32Array, n: number, h: number, w: number): Promise<Images> {
  const k = model.prior.codebookSize;
  const f = model.tokenizer.pixelsPerToken;
  const im = await decodeGrid(model, tokens.map((v) => (v === k ? 0 : v)), n, h, w);
  const plane = im.height * im.width;
  for (let b = 0; b < n; b++)
    for (let i = 0; i < h * w; i++) {
      if (tokens[b * h * w + i] !== k) continue;
      const ty = Math.floor(i / w), tx = i % w;
      for (let c = 0; c < im.channels; c++)
        for (let y = ty * f; y < (ty + 1) * f; y++) {
          const row = (b * im.channels + c) * plane + y * im.width;
          im.data.fill(0.5, row + tx * f, row + (tx + 1) * f);
        }
    }
  return im;
}

/** Encodes one image of the model's size to its token grid. */
async function encodeOne(model: UnmaskModel, image: Images, what: string): Promise<Int32Array> {
  const c = model.tokenizer.config;
  if (image.channels !== c.channels || image.height !== c.imageSize || image.width !== c.imageSize) {
    throw new TaskError(`${what} is ${image.width}×${image.height} with ${image.channels} channel(s); this model takes ${c.imageSize}×${c.imageSize} with ${c.channels}`, 'resize it first');
  }
  return model.tokenizer.encode(image.data.subarray(0, c.channels * c.imageSize * c.imageSize), 1);
}

/** Samples images from scratch; a causal prior (the autoregressive baseline) samples left to right, in N steps. */
export async function generate(model: UnmaskModel, o: TaskOptions): Promise<TaskResult> {
  if (model.prior.causal) {
    const h = model.prior.latent;
    const n = o.n ?? 1;
    const condition = taskCondition(model, o, n, ANY_CLASS);
    const tokens = await sampleAutoregressive(model, { n, temperature: o.temperature, seed: o.seed, labels: condition?.labels, guidance: condition?.guidance, onStep: o.onStep });
    return { images: await decodeGrid(model, tokens, n, h, h), tokens, known: new Uint8Array(h * h), grid: [h, h] };
  }
  const d = model.denoiser(o.precision);
  const n = d.grid[0] * d.grid[1];
  return fill(model, d, new Int32Array(n), new Uint8Array(n), o, ANY_CLASS);
}

/** Token (i, j) is regenerated when any pixel of its f×f patch is masked (mask > 0.5). */
export function tokenMaskFromPixelMask(mask: Float32Array, height: number, width: number, f: number): Uint8Array {
  if (height % f !== 0 || width % f !== 0) throw new TaskError(`mask size ${width}×${height} is not a multiple of the ${f}-pixel token size`, `give a mask whose sides are multiples of ${f}`);
  const h = height / f, w = width / f;
  const out = new Uint8Array(h * w);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (mask[y * width + x] > 0.5) out[Math.floor(y / f) * w + Math.floor(x / f)] = 1;
  return out;
}

/** A pixel mask with 1 inside the box, after checking the box lies within the image. */
export function boxMask(box: Box, width: number, height: number): Float32Array {
  const ok = [box.x, box.y, box.w, box.h].every(Number.isInteger) && box.x >= 0 && box.y >= 0 && box.w > 0 && box.h > 0 && box.x + box.w <= width && box.y + box.h <= height;
  if (!ok) throw new TaskError(`box ${box.x},${box.y},${box.w},${box.h} is not inside the ${width}×${height} image`, `give whole pixels with x,y ≥ 0, w,h > 0, x+w ≤ ${width}, y+h ≤ ${height}`);
  const m = new Float32Array(width * height);
  for (let y = box.y; y < box.y + box.h; y++) m.fill(1, y * width + box.x, y * width + box.x + box.w);
  return m;
}

/** Regenerates the tokens under the white (> 0.5) pixels of `mask` [H·W]; keeps the rest of `image`. */
export async function inpaint(model: UnmaskModel, image: Images, mask: Float32Array, o: TaskOptions): Promise<TaskResult> {
  const c = model.tokenizer.config;
  if (mask.length !== image.width * image.height) throw new TaskError(`the mask has ${mask.length} pixels but the image is ${image.width}×${image.height}`, "give a mask of the image's size");
  const given = await encodeOne(model, image, 'the image');
  const regen = tokenMaskFromPixelMask(mask, c.imageSize, c.imageSize, model.tokenizer.pixelsPerToken);
  if (!regen.some(Boolean)) throw new TaskError('the mask selects no pixels', 'paint white where the image should be regenerated');
  return fill(model, model.denoiser(o.precision), given, regen.map((v) => 1 - v), o);
}

export type KeepRegion = 'top' | 'bottom' | 'left' | 'right' | { box: Box };

/** Keeps one region of the image (a half, or a box) and generates everything else. */
export async function complete(model: UnmaskModel, image: Images, keep: KeepRegion, o: TaskOptions): Promise<TaskResult> {
  const s = model.tokenizer.config.imageSize;
  const half = s / 2;
  const box: Box =
    typeof keep === 'object' ? keep.box
    : keep === 'top' ? { x: 0, y: 0, w: s, h: half }
    : keep === 'bottom' ? { x: 0, y: half, w: s, h: half }
    : keep === 'left' ? { x: 0, y: 0, w: half, h: s }
    : { x: half, y: 0, w: half, h: s };
  const keepMask = boxMask(box, image.width, image.height);
  return inpaint(model, image, keepMask.map((v) => 1 - v), o);
}

/** Left columns from `left`, right columns from `right`, `seam` token columns in the middle generated. */
export async function stitch(model: UnmaskModel, left: Images, right: Images, seam: number, o: TaskOptions): Promise<TaskResult> {
  const d = model.denoiser(o.precision);
  const [h, w] = d.grid;
  if (!Number.isInteger(seam) || seam < 1 || seam > w - 2) throw new TaskError(`seam must be 1..${w - 2} token columns, got ${seam}`, `pass a seam from 1 to ${w - 2}`);
  const a = await encodeOne(model, left, 'the left image');
  const b = await encodeOne(model, right, 'the right image');
  const start = Math.floor((w - seam) / 2);
  const given = new Int32Array(h * w);
  const known = new Uint8Array(h * w);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (x < start) [given[i], known[i]] = [a[i], 1];
      else if (x >= start + seam) [given[i], known[i]] = [b[i], 1];
    }
  return fill(model, d, given, known, o);
}

export interface ExtendOptions extends TaskOptions {
  /** Canvas size in pixels (multiples of the token size, at least the model's size). */
  width: number;
  height: number;
  /** Window stride in tokens (default: a quarter of the model's grid). */
  stride?: number;
  /** Optional image to outpaint, placed at (x, y) in pixels (multiples of the token size). */
  image?: Images;
  at?: { x: number; y: number };
}

/** Paints a grid larger than the model was trained on, optionally around a given image. */
export async function extend(model: UnmaskModel, o: ExtendOptions): Promise<TaskResult> {
  const f = model.tokenizer.pixelsPerToken;
  const s = model.tokenizer.config.imageSize;
  if (o.width < s || o.height < s || o.width % f || o.height % f) {
    throw new TaskError(`extend needs a size of at least ${s}×${s} in multiples of ${f} pixels, got ${o.width}×${o.height}`, `pass a width and height of ${s} or more, multiples of ${f}`);
  }
  const base = model.denoiser(o.precision);
  const [bh, bw] = base.grid;
  const H = o.height / f, W = o.width / f;
  const denoiser = new WindowDenoiser(base, [H, W], o.stride ?? Math.max(1, Math.floor(Math.min(bh, bw) / 4)));
  const given = new Int32Array(H * W);
  const known = new Uint8Array(H * W);
  if (o.image) {
    const at = o.at ?? { x: 0, y: 0 };
    if (at.x % f || at.y % f || at.x < 0 || at.y < 0 || at.x + s > o.width || at.y + s > o.height) {
      throw new TaskError(`the image at (${at.x}, ${at.y}) does not sit inside the ${o.width}×${o.height} canvas at multiples of ${f} pixels`, `place it at multiples of ${f} with the whole image on the canvas`);
    }
    const codes = await encodeOne(model, o.image, 'the image');
    for (let y = 0; y < bh; y++)
      for (let x = 0; x < bw; x++) {
        const i = (at.y / f + y) * W + at.x / f + x;
        given[i] = codes[y * bw + x];
        known[i] = 1;
      }
  }
  if (o.steps > H * W) throw new TaskError(`steps must be at most ${H * W} for this canvas, got ${o.steps}`, `pass --steps ${H * W} or fewer`);
  return fill(model, denoiser, given, known, o);
}
