// DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"): random
// colour, translation and cutout applied independently to real and fake images before the
// discriminator, differentiable with respect to the image so the generator's adversarial term is too.
//
// Zhao's constants are for images in [-1, 1]; ours are in [0, 1], so the augmentation runs on 2x − 1
// and maps back: brightness shifts by U(−0.25, 0.25) in [0, 1] units and translation and cutout fill
// with mid-grey. The random parameters are drawn on the host from the run's seeded Rng and fed as graph
// inputs (translation as one-hot shift matrices, cutout as a mask), so one session serves every step
// and a resumed run draws exactly what an uninterrupted one would.
import * as F from '../engine/api.ts';
import { type DType, type Graph, GraphError, type Tensor } from '../engine/graph.ts';
import type { Rng } from '../engine/rng.ts';

export const DIFF_AUGMENTS = ['color', 'translation', 'cutout'] as const;
export type DiffAugment = (typeof DIFF_AUGMENTS)[number];

/** The augmentations of a config's comma list ('' for none), in the order given (the order they apply). */
export function parseDiffAugment(list: string): DiffAugment[] {
  if (list.trim() === '') return [];
  return list.split(',').map((p) => {
    const name = p.trim();
    if (!(DIFF_AUGMENTS as readonly string[]).includes(name)) throw new GraphError(`unknown DiffAugment '${name}' (use ${DIFF_AUGMENTS.join(', ')})`);
    return name as DiffAugment;
  });
}

/** Zhao's ratios: translation by up to 1/8 of the size, a cutout square of 1/2 of it. */
const TRANSLATION_RATIO = 0.125;
const CUTOUT_RATIO = 0.5;
const maxShift = (size: number) => Math.floor(size * TRANSLATION_RATIO + 0.5);
const cutoutSize = (size: number) => Math.floor(size * CUTOUT_RATIO + 0.5);

/** One batch's random draws, as Zhao's code makes them (torch.rand, torch.randint), per image. */
export interface DiffAugmentDraw {
  /** U(0, 1) each: brightness shift r − 0.5, saturation factor 2r, contrast factor r + 0.5. */
  brightness: number[];
  saturation: number[];
  contrast: number[];
  /** Shifts in [−maxShift, maxShift] along height (x in Zhao's code) and width (y). */
  shiftH: number[];
  shiftW: number[];
  /** Cutout centres in [0, size + 1 − size_cut mod 2) along height and width. */
  cutH: number[];
  cutW: number[];
}

export function drawDiffAugment(rng: Rng, augments: DiffAugment[], batch: number, size: number): DiffAugmentDraw {
  const each = (f: () => number) => Array.from({ length: batch }, f);
  const d: DiffAugmentDraw = { brightness: [], saturation: [], contrast: [], shiftH: [], shiftW: [], cutH: [], cutW: [] };
  for (const a of augments) {
    if (a === 'color') [d.brightness, d.saturation, d.contrast] = [each(() => rng.next()), each(() => rng.next()), each(() => rng.next())];
    if (a === 'translation') {
      const s = maxShift(size);
      [d.shiftH, d.shiftW] = [each(() => rng.int(2 * s + 1) - s), each(() => rng.int(2 * s + 1) - s)];
    }
    if (a === 'cutout') {
      const n = size + 1 - (cutoutSize(size) % 2);
      [d.cutH, d.cutW] = [each(() => rng.int(n)), each(() => rng.int(n))];
    }
  }
  return d;
}

/** The graph inputs of one augmented call of D; `name` prefixes them (e.g. 'diffAugment.real'). */
export interface DiffAugmentInputs {
  /** [B, 1, 1, 1] each: brightness shift, saturation factor, contrast factor. */
  shift?: Tensor;
  saturation?: Tensor;
  contrast?: Tensor;
  /** [B, 1, H, H] and [B, 1, W, W]: out = rows · u · cols moves image b by its translation. */
  rows?: Tensor;
  cols?: Tensor;
  /** [B, 1, H, W]: 0 inside the cutout square, 1 elsewhere. */
  mask?: Tensor;
}

export function declareDiffAugmentInputs(g: Graph, name: string, augments: DiffAugment[], batch: number, size: number, dtype: DType = 'float32'): DiffAugmentInputs {
  const per = [batch, 1, 1, 1];
  const square = [batch, 1, size, size];
  const t: DiffAugmentInputs = {};
  if (augments.includes('color')) [t.shift, t.saturation, t.contrast] = ['shift', 'saturation', 'contrast'].map((k) => g.input(`${name}.${k}`, per, dtype));
  if (augments.includes('translation')) [t.rows, t.cols] = [g.input(`${name}.rows`, square, dtype), g.input(`${name}.cols`, square, dtype)];
  if (augments.includes('cutout')) t.mask = g.input(`${name}.mask`, square, dtype);
  return t;
}

/** The values of those inputs for one draw. */
export function diffAugmentFeeds(name: string, augments: DiffAugment[], d: DiffAugmentDraw, size: number): Record<string, Float32Array> {
  const batch = Math.max(d.brightness.length, d.shiftH.length, d.cutH.length);
  const feeds: Record<string, Float32Array> = {};
  if (augments.includes('color')) {
    feeds[`${name}.shift`] = Float32Array.from(d.brightness, (r) => r - 0.5);
    feeds[`${name}.saturation`] = Float32Array.from(d.saturation, (r) => r * 2);
    feeds[`${name}.contrast`] = Float32Array.from(d.contrast, (r) => r + 0.5);
  }
  if (augments.includes('translation')) {
    const rows = new Float32Array(batch * size * size);
    const cols = new Float32Array(batch * size * size);
    for (let b = 0; b < batch; b++)
      for (let i = 0; i < size; i++) {
        // output row i reads row i + shiftH (zero outside); output column j reads column j + shiftW
        const r = i + d.shiftH[b];
        if (r >= 0 && r < size) rows[(b * size + i) * size + r] = 1;
        const c = i + d.shiftW[b];
        if (c >= 0 && c < size) cols[(b * size + c) * size + i] = 1;
      }
    [feeds[`${name}.rows`], feeds[`${name}.cols`]] = [rows, cols];
  }
  if (augments.includes('cutout')) {
    const mask = new Float32Array(batch * size * size).fill(1);
    const n = cutoutSize(size);
    const half = Math.floor(n / 2);
    const clamp = (v: number) => Math.min(Math.max(v, 0), size - 1);
    for (let b = 0; b < batch; b++)
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) mask[(b * size + clamp(d.cutH[b] + i - half)) * size + clamp(d.cutW[b] + j - half)] = 0;
    feeds[`${name}.mask`] = mask;
  }
  return feeds;
}

/** Images x [B, C, H, W] in [0, 1], augmented in the order of `augments` as Zhao's code does on 2x − 1. */
export function diffAugment(x: Tensor, augments: DiffAugment[], t: DiffAugmentInputs): Tensor {
  let u = F.sub(F.mul(x, 2), 1);
  for (const a of augments) {
    if (a === 'color') {
      u = F.add(u, t.shift!);
      const pixel = F.reduceMean(u, [1], true);
      u = F.add(F.mul(F.sub(u, pixel), t.saturation!), pixel);
      const image = F.reduceMean(u, [1, 2, 3], true);
      u = F.add(F.mul(F.sub(u, image), t.contrast!), image);
    }
    if (a === 'translation') u = F.matmul(F.matmul(t.rows!, u), t.cols!);
    if (a === 'cutout') u = F.mul(u, t.mask!);
  }
  return F.mul(F.add(u, 1), 0.5);
}
