// Precision, recall, density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics
// for Generative Models"), with the formulas of their `prdc` package. Each sample gets a ball whose
// radius is the distance to its k-th nearest neighbour within its own set; then
//   precision = fraction of generated samples inside some real ball          (fidelity)
//   recall    = fraction of real samples inside some generated ball          (diversity)
//   density   = (1/k) · mean over generated samples of how many real balls hold it
//   coverage  = fraction of real samples whose nearest generated sample is inside its ball.
// Comparisons are strict (<) as in prdc. Distances are Euclidean; we compare squares.
import { EvalError, type Features, checkFeatures } from './features.ts';

export interface Prdc {
  precision: number;
  recall: number;
  density: number;
  coverage: number;
}

/** The reference scripts' neighbourhood size. */
export const PRDC_K = 3;

/** |a_i − b_j|² over d values of two row-major float64 arrays. */
function squaredDistance(a: Float64Array, i: number, b: Float64Array, j: number, d: number): number {
  let s = 0;
  for (let t = 0, p = i * d, q = j * d; t < d; t++, p++, q++) {
    const diff = a[p] - b[q];
    s += diff * diff;
  }
  return s;
}

const asFloat64 = (f: Features) => (f.data instanceof Float64Array ? f.data : Float64Array.from(f.data));

/** Squared distance from each sample to its k-th nearest other sample in the same set. */
export function kthNeighbourRadii(f: Features, k: number): Float64Array {
  const radii = new Float64Array(f.n);
  const x = asFloat64(f);
  const nearest = new Float64Array(k); // the k smallest distances so far, ascending
  for (let i = 0; i < f.n; i++) {
    nearest.fill(Infinity);
    for (let j = 0; j < f.n; j++) {
      if (j === i) continue;
      const dist = squaredDistance(x, i, x, j, f.d);
      if (dist >= nearest[k - 1]) continue;
      let at = k - 1;
      while (at > 0 && nearest[at - 1] > dist) {
        nearest[at] = nearest[at - 1];
        at--;
      }
      nearest[at] = dist;
    }
    radii[i] = nearest[k - 1];
  }
  return radii;
}

/** PRDC of generated features `fake` against `real`, with k nearest neighbours (default 3). */
export function prdc(real: Features, fake: Features, k = PRDC_K): Prdc {
  if (!Number.isInteger(k) || k < 1) throw new EvalError(`PRDC: k must be a whole number ≥ 1, got ${k}`, 'pass --k 1 or more');
  checkFeatures('PRDC', real, fake, k + 1, `k = ${k} neighbours besides itself`);
  const realRadii = kthNeighbourRadii(real, k);
  const fakeRadii = kthNeighbourRadii(fake, k);
  const [r, g] = [asFloat64(real), asFloat64(fake)];
  const realBallsHolding = new Int32Array(fake.n); // per generated sample
  const realInFakeBall = new Uint8Array(real.n);
  const nearestFake = new Float64Array(real.n).fill(Infinity);
  for (let i = 0; i < real.n; i++) {
    for (let j = 0; j < fake.n; j++) {
      const dist = squaredDistance(r, i, g, j, real.d);
      if (dist < realRadii[i]) realBallsHolding[j]++;
      if (dist < fakeRadii[j]) realInFakeBall[i] = 1;
      if (dist < nearestFake[i]) nearestFake[i] = dist;
    }
  }
  let precise = 0;
  let held = 0;
  for (let j = 0; j < fake.n; j++) {
    if (realBallsHolding[j] > 0) precise++;
    held += realBallsHolding[j];
  }
  let recalled = 0;
  let covered = 0;
  for (let i = 0; i < real.n; i++) {
    recalled += realInFakeBall[i];
    if (nearestFake[i] < realRadii[i]) covered++;
  }
  return {
    precision: precise / fake.n,
    recall: recalled / real.n,
    density: held / (k * fake.n),
    coverage: covered / real.n,
  };
}
