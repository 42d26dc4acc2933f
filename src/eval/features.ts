// Feature vectors, the space every metric is measured in, and the extractors that produce them from
// images: unmask's own convnet (feature-net.ts) or any ONNX network a user brings (onnx-features.ts).
import { UnmaskError } from '../errors.ts';

/** `n` feature vectors of `d` values each, row-major. */
export interface Features {
  n: number;
  d: number;
  data: Float32Array | Float64Array;
}

export class EvalError extends UnmaskError {
  override name = 'EvalError';
}

/** Maps images to feature vectors. */
export interface FeatureExtractor {
  /** What it is, for reports ('unmask feature net runs/features-fashion', 'inception.onnx'). */
  readonly name: string;
  /** Feature dimension D. */
  readonly dim: number;
  /** Images [n, C, H, W] in [0, 1] (of the size the extractor was opened for) → features [n, D]. */
  features(images: Float32Array, n: number): Promise<Features>;
  release(): Promise<void>;
}

/** Stacks feature sets of one dimension (e.g. batch by batch) into one. */
export function concatFeatures(parts: Features[]): Features {
  if (parts.length === 0) throw new EvalError('no features to evaluate', 'generate at least one image');
  const d = parts[0].d;
  const n = parts.reduce((s, p) => s + p.n, 0);
  const data = new Float64Array(n * d);
  let at = 0;
  for (const p of parts) {
    if (p.d !== d) throw new EvalError(`feature sets differ in dimension (${d} and ${p.d})`, 'extract them with one feature network');
    data.set(p.data, at);
    at += p.n * d;
  }
  return { n, d, data };
}

/** The checks both metrics share: same dimension, finite values, at least `min` samples per set. */
export function checkFeatures(what: string, a: Features, b: Features, min: number, need: string): void {
  if (a.d !== b.d) throw new EvalError(`${what}: the feature sets have dimensions ${a.d} and ${b.d}`, 'extract both with the same feature network');
  for (const [name, f] of [['real', a], ['generated', b]] as const) {
    if (f.data.length !== f.n * f.d) throw new EvalError(`${what}: the ${name} features hold ${f.data.length} values, not ${f.n}×${f.d}`, 'give n × d feature values');
    if (f.n < min) throw new EvalError(`${what} needs at least ${min} ${name} samples (${need}), got ${f.n}`, 'evaluate more images (--n)');
    for (let i = 0; i < f.data.length; i++) {
      if (!Number.isFinite(f.data[i])) throw new EvalError(`${what}: the ${name} features contain ${f.data[i]} (sample ${Math.floor(i / f.d)})`, 'check the feature network');
    }
  }
}
