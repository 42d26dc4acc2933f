// The VQGAN objective fixture (reference/make_vqgan_objective_fixtures.py → test/fixtures/objectives/vqgan.json)
// and how its tensors are compared: whole, or through the summary the fixture keeps of a large one.
import type { ImageSet } from '../../src/data/image-set.ts';
import type { DiffAugmentDraw } from '../../src/models/diffaugment.ts';
import { fixedTensor } from './fixed-weights.ts';
import { type FixtureTensor, type Golden, type Tolerance, readFixture } from './golden.ts';

/** A large tensor kept as ‖t‖, Σt, t·w₀ (w₀ its fixed initial weights) and the values at j·2654435761 mod size, j = 0..3. */
export interface Summary {
  shape: number[];
  norm: number;
  sum: number;
  dot: number;
  values: number[];
}
export type Stored = FixtureTensor | Summary;

export interface AeCase {
  name: string;
  config: Record<string, unknown>;
  adversarial: boolean;
  fakeDraws: DiffAugmentDraw | null;
  loss: number;
  rec: number;
  codebook: number;
  perceptual?: number;
  gan?: number;
  discWeight?: number;
  indices: number[];
  grads: Record<string, Stored>;
}

export interface DiscCase {
  name: string;
  config: Record<string, unknown>;
  draws: { real: DiffAugmentDraw; fake: DiffAugmentDraw } | null;
  xhat: FixtureTensor;
  loss: number;
  logitsReal: number;
  logitsFake: number;
  /** Per call of D (real, then fake): each BatchNorm layer's batch mean and unbiased variance. */
  bnStats: Record<string, { mean: FixtureTensor; var: FixtureTensor }>[];
  grads: Record<string, FixtureTensor>;
}

export interface VqganTrajectoryStep {
  indices: number[];
  rec: number;
  codebook: number;
  perceptual: number;
  /** The GAN's terms, from discStartStep on. */
  gan?: number;
  discWeight?: number;
  discLoss?: number;
  perplexity: number;
}

export interface VqganTrajectory {
  config: Record<string, unknown>;
  steps: VqganTrajectoryStep[];
  /** Parameters without any gradient (compared within tolerances.nullDirectionWeights). */
  nullDirections?: string[];
  /** Every weight, EMA and running statistic after the last step (not stored for every trajectory). */
  params?: Record<string, Stored>;
  ema?: Record<string, Stored>;
  buffers?: Record<string, FixtureTensor>;
}

export interface VqganFixture {
  torch: string;
  checksums: Record<string, number>;
  images: FixtureTensor;
  autoencoder: AeCase[];
  discriminator: DiscCase[];
  trajectory: VqganTrajectory;
  lateGanTrajectory: VqganTrajectory;
}

export const vqganFixture = readFixture<VqganFixture>('objectives/vqgan.json');

/** The fixture's images as a dataset. */
export function fixtureImages(): ImageSet {
  const [count, channels, size] = vqganFixture.images.shape;
  const per = channels * size * size;
  return { name: 'fixture', channels, size, count, read: (i, out, off) => out.set(vqganFixture.images.data.slice(i * per, (i + 1) * per), off) };
}

/**
 * Adds tensor `name` to the comparison: element by element when stored whole; else its norm and samples
 * element-wise, its sum within rtol·‖t‖·√size and its dot product with w₀ within rtol·‖t‖·‖w₀‖ (their
 * rounding errors follow the size of the terms, not the total, which can cancel to near 0).
 */
export function addStored(golden: Golden, name: string, ours: Float32Array, ref: Stored, tol: Tolerance): void {
  if ('data' in ref) {
    golden.add(name, ours, ref.data, tol);
    return;
  }
  const w0 = fixedTensor(name.slice(name.indexOf(':') + 1), ref.shape);
  let norm = 0;
  let sum = 0;
  let dot = 0;
  let w0Norm = 0;
  for (let i = 0; i < ours.length; i++) {
    norm += ours[i] * ours[i];
    sum += ours[i];
    dot += ours[i] * w0[i];
    w0Norm += w0[i] * w0[i];
  }
  golden.add(`${name} norm`, [Math.sqrt(norm)], [ref.norm], tol);
  golden.add(`${name} sum`, [sum], [ref.sum], tol, ref.norm * Math.sqrt(ours.length));
  golden.add(`${name} dot`, [dot], [ref.dot], tol, ref.norm * Math.sqrt(w0Norm));
  golden.add(
    `${name} samples`,
    ref.values.map((_, j) => ours[(j * 2654435761) % ours.length]),
    ref.values,
    tol,
  );
}
