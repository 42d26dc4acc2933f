// Window averaging for grids larger than the model, against hand-computed averages.
import { describe, expect, it } from 'vitest';
import { type Denoiser, sampleTokens } from '../../src/diffusion/sample.ts';
import { WindowDenoiser, windowStarts } from '../../src/diffusion/windows.ts';

const K = 2;
/**
 * A 2×2 denoiser with p(code 0) = 0.9 at every position when the window's top-left token is 1, else
 * 0.3: the window a position is seen through matters, and the averages are computable by hand.
 */
const base: Denoiser = {
  grid: [2, 2],
  codebookSize: K,
  async logProbs(tokens, batch, positions, m) {
    const out = new Float32Array(batch * m * K);
    for (let b = 0; b < batch; b++) {
      const p0 = tokens[b * 4] === 1 ? 0.9 : 0.3;
      for (let j = 0; j < m; j++) {
        out[(b * m + j) * K] = Math.log(p0);
        out[(b * m + j) * K + 1] = Math.log(1 - p0);
      }
    }
    return out;
  },
};

describe('window denoiser', () => {
  it('places windows at the stride and always covers the far edge', () => {
    expect(windowStarts(5, 2, 1)).toEqual([0, 1, 2, 3]);
    expect(windowStarts(5, 2, 2)).toEqual([0, 2, 3]);
    expect(windowStarts(2, 2, 1)).toEqual([0]);
    expect(() => windowStarts(1, 2, 1)).toThrow(/smaller/);
  });

  it('averages per-position probabilities over the windows containing each position', async () => {
    // 2×3 grid, windows at left 0 and 1. Top-left tokens: window 0 sees tokens[0], window 1 sees tokens[1].
    const big = new WindowDenoiser(base, [2, 3], 1);
    const tokens = Int32Array.from([1, 2, 2, 2, 2, 2]); // K = 2 is the mask id
    const positions = Int32Array.from([0, 1, 5]);
    const lp = await big.logProbs(tokens, 1, positions, 3);
    const p0 = (j: number) => Math.exp(lp[j * K]);
    // position 0 (x=0): only window 0 (top-left 1) → 0.9
    expect(p0(0)).toBeCloseTo(0.9, 6);
    // position 1 (x=1): windows 0 (0.9) and 1 (top-left token 2 → 0.3) → 0.6
    expect(p0(1)).toBeCloseTo(0.6, 6);
    // position 5 (y=1, x=2): only window 1 → 0.3
    expect(p0(2)).toBeCloseTo(0.3, 6);
    for (let j = 0; j < 3; j++) expect(Math.exp(lp[j * K]) + Math.exp(lp[j * K + 1])).toBeCloseTo(1, 6);
  });

  it('lets the sampler reveal every position of a big grid exactly once', async () => {
    const big = new WindowDenoiser(base, [3, 5], 1);
    const firstSet = new Int32Array(15).fill(-1);
    const out = await sampleTokens(big, new Int32Array(15).fill(K), 1, {
      steps: 6, sampler: 'random', seed: 4,
      onStep: ({ step, tokens }) => tokens.forEach((v, i) => { if (v !== K && firstSet[i] < 0) firstSet[i] = step; }),
    });
    expect(out.every((v) => v === 0 || v === 1)).toBe(true);
    expect(Array.from(firstSet).every((s) => s >= 1)).toBe(true);
  });
});
