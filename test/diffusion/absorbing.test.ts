// The forward process and the loss weightings against hand-computed values.
import { describe, expect, it } from 'vitest';
import { TimeSampler, lossWeight, maskSample, timeProbabilities } from '../../src/diffusion/absorbing.ts';
import { Rng } from '../../src/engine/rng.ts';

describe('absorbing forward process', () => {
  it.each([16, 64, 128, 240])('masks a fraction ≈ t/T at t = %i (random schedule)', (t) => {
    const T = 256, n = 256, rng = new Rng(t);
    const x0 = new BigInt64Array(n).map((_, i) => BigInt(i % 7));
    const xt = new BigInt64Array(n), m = new Float32Array(n);
    let total = 0;
    const reps = 200;
    for (let r = 0; r < reps; r++) total += maskSample(x0, t, T, 512, 'random', rng, xt, m);
    const frac = total / (reps * n);
    // binomial standard error √(p(1−p)/(reps·n)) ≤ 0.002; allow 4σ
    expect(Math.abs(frac - t / T)).toBeLessThan(0.008);
  });

  it('masks exactly round(t/T·N) with the fixed schedule and writes the mask id', () => {
    const rng = new Rng(1), n = 100;
    const x0 = new BigInt64Array(n).fill(3n);
    const xt = new BigInt64Array(n), m = new Float32Array(n);
    expect(maskSample(x0, 77, 256, 9, 'fixed', rng, xt, m)).toBe(Math.round((77 / 256) * 100));
    xt.forEach((v, i) => expect(v).toBe(m[i] ? 9n : 3n));
  });

  it('weights the summed cross-entropy as the reference does', () => {
    const T = 256, N = 256;
    // elbo: CE/t / p(t) / (ln2·N), p(t) = 1/T
    expect(lossWeight('elbo', 64, T, N, 70)).toBeCloseTo((1 / 64) * 256 / (Math.LN2 * 256), 12);
    // reweighted: (1 − t/T)/(ln2·N)
    expect(lossWeight('reweighted_elbo', 64, T, N, 70)).toBeCloseTo(0.75 / (Math.LN2 * 256), 12);
    // mlm: 1/#masked, and 1 when nothing is masked
    expect(lossWeight('mlm', 64, T, N, 70)).toBeCloseTo(1 / 70, 12);
    expect(lossWeight('mlm', 1, T, N, 0)).toBe(1);
    // importance sampling divides by its own p(t)
    expect(lossWeight('elbo', 10, T, N, 5, 0.02)).toBeCloseTo(1 / 10 / 0.02 / (Math.LN2 * 256), 12);
  });

  it('samples t uniformly until every t has more than 10 observations, then ∝ √E[L_t²]', () => {
    const s = new TimeSampler(4, 'importance');
    const rng = new Rng(2);
    expect(s.sample(rng).pt).toBe(0.25);
    for (let t = 1; t <= 4; t++) for (let i = 0; i < 11; i++) s.observe(t, t === 4 ? 3 : 1);
    const hits = [0, 0, 0, 0, 0];
    for (let i = 0; i < 6000; i++) hits[s.sample(rng).t]++;
    // weights 1,1,1,3 → p(4) = 0.5
    expect(hits[4] / 6000).toBeGreaterThan(0.47);
    expect(hits[4] / 6000).toBeLessThan(0.53);
  });

  it.each([
    // P(r ≤ 1/2) by hand: uniform 1/2; cosine 1 − (2/π)·arccos(1/2) = 1/3; high (1/2)³ = 1/8;
    // higher (1/2)⁵ = 1/32
    ['uniform', 1 / 2],
    ['cosine', 1 / 3],
    ['high', 1 / 8],
    ['higher', 1 / 32],
  ] as const)('draws %s mask ratios with the stated p(t) (P(t ≤ T/2) = %f)', (mode, half) => {
    const T = 64;
    const p = timeProbabilities(mode, T);
    expect(p.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 12);
    expect(p.slice(1, T / 2 + 1).reduce((a, v) => a + v, 0)).toBeCloseTo(half, 12);
    const s = new TimeSampler(T, mode);
    const rng = new Rng(3);
    let low = 0;
    let ptError = 0;
    const draws = 20000;
    for (let i = 0; i < draws; i++) {
      const { t, pt } = s.sample(rng);
      ptError = Math.max(ptError, Math.abs(pt - p[t]));
      if (t <= T / 2) low++;
    }
    expect(ptError).toBeLessThan(1e-12);
    // binomial standard error ≤ 0.0036; allow 4σ
    expect(Math.abs(low / draws - half)).toBeLessThan(0.015);
  });
});
