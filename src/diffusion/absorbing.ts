// The absorbing (masking) forward process and the training objectives of docs/method.md §2.
// Tokens x₀ ∈ {0..K−1}^N; the mask token is K. At time t ∈ {1..T} each token is masked with
// probability t/T ('random') or exactly round(t/T·N) tokens are ('fixed').
import type { Rng } from '../engine/rng.ts';

export type MaskSchedule = 'random' | 'fixed';
export type LossType = 'elbo' | 'reweighted_elbo' | 'mlm';
/**
 * How training times are drawn. 'uniform': t ~ U{1..T} (what the reference trains with). 'cosine':
 * MaskGIT's mask ratio r = cos(π/2·u), u ~ U(0, 1). 'high': r = u^⅓ (density 3r², most weight on
 * heavily masked grids, where few-step sampling starts); 'higher': r = u^⅕ (density 5r⁴).
 * 'importance': the reference's unused sampler ∝ √(EMA of the squared ELBO term at t). A ratio r
 * becomes t = ⌈r·T⌉ (at least 1).
 */
export const TIME_SAMPLINGS = ['uniform', 'cosine', 'high', 'higher', 'importance'] as const;
export type TimeSampling = (typeof TIME_SAMPLINGS)[number];
type RatioSchedule = Exclude<TimeSampling, 'importance'>;

/** P(ratio ≤ r) of the mask-ratio schedules (the uniform one is r itself). */
const RATIO_CDF: Record<RatioSchedule, (r: number) => number> = {
  uniform: (r) => r,
  cosine: (r) => 1 - (2 / Math.PI) * Math.acos(Math.min(1, r)),
  high: (r) => r ** 3,
  higher: (r) => r ** 5,
};

/** p(t) for t = 1..T under a mask-ratio schedule: P((t−1)/T < r ≤ t/T); index 0 unused. */
export function timeProbabilities(mode: RatioSchedule, T: number): Float64Array {
  const cdf = RATIO_CDF[mode];
  const p = new Float64Array(T + 1);
  for (let t = 1; t <= T; t++) p[t] = cdf(t / T) - cdf((t - 1) / T);
  return p;
}

/** Masks one sample in place: writes x_t into `xt` and 1/0 into `masked`; returns how many were masked. */
export function maskSample(x0: ArrayLike<bigint>, t: number, T: number, maskId: number, schedule: MaskSchedule, rng: Rng, xt: BigInt64Array, masked: Float32Array): number {
  const n = x0.length;
  masked.fill(0);
  if (schedule === 'random') {
    const p = t / T;
    for (let i = 0; i < n; i++) if (rng.next() < p) masked[i] = 1;
  } else {
    const count = Math.round((t / T) * n);
    const order = rng.permutation(n);
    for (let i = 0; i < count; i++) masked[order[i]] = 1;
  }
  let total = 0;
  for (let i = 0; i < n; i++) {
    xt[i] = masked[i] ? BigInt(maskId) : x0[i];
    total += masked[i];
  }
  return total;
}

/**
 * The per-sample factor w such that loss = w · Σ_masked CE (the CE summed over masked positions):
 *   elbo:             1/t · 1/p(t) · 1/(ln2·N)   (bits per token; p(t) = 1/T when uniform)
 *   reweighted_elbo:  (1 − t/T) · 1/(ln2·N)
 *   mlm:              1 / (number of masked tokens)
 */
export function lossWeight(type: LossType, t: number, T: number, n: number, maskedCount: number, pt = 1 / T): number {
  switch (type) {
    case 'elbo':
      return 1 / t / pt / (Math.LN2 * n);
    case 'reweighted_elbo':
      return (1 - t / T) / (Math.LN2 * n);
    case 'mlm':
      return 1 / Math.max(1, maskedCount);
  }
}

/**
 * Chooses training times (see TimeSampling); 'importance' stays uniform until every t has been seen
 * more than 10 times.
 */
export class TimeSampler {
  readonly sqEma: Float64Array;
  readonly counts: Int32Array;
  /** Cumulative p(t) of a fixed schedule (null for uniform and importance). */
  private cumulative: Float64Array | null = null;

  constructor(
    readonly T: number,
    readonly mode: TimeSampling,
    readonly decay = 0.99,
  ) {
    this.sqEma = new Float64Array(T + 1);
    this.counts = new Int32Array(T + 1);
    if (mode !== 'uniform' && mode !== 'importance') {
      const p = timeProbabilities(mode, T);
      this.cumulative = new Float64Array(T + 1);
      for (let t = 1; t <= T; t++) this.cumulative[t] = this.cumulative[t - 1] + p[t];
    }
  }

  private ready(): boolean {
    for (let t = 1; t <= this.T; t++) if (this.counts[t] <= 10) return false;
    return true;
  }

  /** A time and its probability p(t). */
  sample(rng: Rng): { t: number; pt: number } {
    const cum = this.cumulative;
    if (cum) {
      const u = rng.next() * cum[this.T];
      let t = 1;
      while (t < this.T && cum[t] <= u) t++;
      return { t, pt: (cum[t] - cum[t - 1]) / cum[this.T] };
    }
    if (this.mode === 'uniform' || !this.ready()) return { t: 1 + rng.int(this.T), pt: 1 / this.T };
    let z = 0;
    for (let t = 1; t <= this.T; t++) z += Math.sqrt(this.sqEma[t]);
    let u = rng.next() * z;
    for (let t = 1; t <= this.T; t++) {
      const w = Math.sqrt(this.sqEma[t]);
      if (u < w || t === this.T) return { t, pt: w / z };
      u -= w;
    }
    return { t: this.T, pt: Math.sqrt(this.sqEma[this.T]) / z };
  }

  /** Records the ELBO term (bits per token, before the 1/p(t) factor) observed at time t. */
  observe(t: number, elboTerm: number): void {
    const sq = elboTerm * elboTerm;
    this.sqEma[t] = this.counts[t] === 0 ? sq : this.decay * this.sqEma[t] + (1 - this.decay) * sq;
    this.counts[t]++;
  }
}
