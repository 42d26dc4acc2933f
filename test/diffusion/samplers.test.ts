// Samplers against a fake denoiser whose probabilities are known.
import { describe, expect, it } from 'vitest';
import { type Denoiser, sampleTokens } from '../../src/diffusion/sample.ts';
import { arccosRevealed, cosineRemaining, gumbelScale, haltonOrder, REMASK_CAP, SAMPLERS, type SamplerName } from '../../src/diffusion/samplers.ts';

const K = 6;
/** Prefers code (position mod K) strongly; records every query. */
function fakeDenoiser(h: number, w: number, log: { tokens: number[]; positions: number[]; m: number }[] = []): Denoiser {
  return {
    grid: [h, w],
    codebookSize: K,
    async logProbs(tokens, batch, positions, m) {
      log.push({ tokens: Array.from(tokens), positions: Array.from(positions), m });
      const out = new Float32Array(batch * m * K);
      for (let i = 0; i < batch * m; i++) {
        for (let v = 0; v < K; v++) out[i * K + v] = v === positions[i] % K ? Math.log(0.95) : Math.log(0.01);
      }
      return out;
    },
  };
}

/** Records every step; a revealed token never changes, except that `remasks` lets it be masked again. */
function trace(n: number, batch: number, remasks = false) {
  const firstSet = new Int32Array(batch * n).fill(-1);
  const history: Int32Array[] = [];
  return {
    firstSet,
    history,
    onStep: ({ step, tokens }: { step: number; tokens: Int32Array }) => {
      const prev = history[history.length - 1];
      tokens.forEach((v, i) => {
        if (v !== K && firstSet[i] < 0) firstSet[i] = step;
        if (prev && prev[i] !== K && !(remasks && v === K)) expect(v).toBe(prev[i]);
      });
      history.push(tokens.slice());
    },
  };
}

describe.each<SamplerName>(['random', 'confidence', 'halton', 'remask'])('%s sampler', (sampler) => {
  const h = 4, w = 4, n = 16, batch = 3;

  it.each([1, 5, 16])('reveals every position exactly once with %i steps', async (steps) => {
    const t = trace(n, batch, sampler === 'remask');
    const x = new Int32Array(batch * n).fill(K);
    const out = await sampleTokens(fakeDenoiser(h, w), x, batch, { steps, sampler, seed: 3, onStep: t.onStep });
    expect(out.every((v) => v >= 0 && v < K)).toBe(true);
    expect(t.history).toHaveLength(steps);
    expect(Array.from(t.firstSet).every((s) => s >= 1 && s <= steps)).toBe(true);
    if (steps === n && sampler === 'confidence') {
      // one per step per row when steps = N
      for (let s = 1; s <= steps; s++) for (let b = 0; b < batch; b++) expect(t.firstSet.subarray(b * n, (b + 1) * n).filter((v) => v === s)).toHaveLength(1);
    }
  });

  it('never changes given tokens and only queries masked positions', async () => {
    const log: { tokens: number[]; positions: number[]; m: number }[] = [];
    const x = new Int32Array(batch * n).fill(K);
    const given = [0, 5, 6, 15, 16 + 3, 32 + 9];
    for (const g of given) x[g] = 2;
    const out = await sampleTokens(fakeDenoiser(h, w, log), x, batch, { steps: 4, sampler, seed: 1 });
    for (const g of given) expect(out[g]).toBe(2);
    // A row with nothing left to reveal is padded with an arbitrary position; every other row's
    // queries (padding included) must be positions that are masked at the time of the call.
    for (const call of log) for (let b = 0; b < batch; b++) {
      const row = call.tokens.slice(b * n, (b + 1) * n);
      if (!row.includes(K)) continue;
      for (const pos of call.positions.slice(b * call.m, (b + 1) * call.m)) expect(row[pos]).toBe(K);
    }
  });

  it('gives the same tokens for the same seed and different ones for another', async () => {
    const x = new Int32Array(batch * n).fill(K);
    const opts = { steps: 6, sampler, temperature: 3 };
    const a = await sampleTokens(fakeDenoiser(h, w), x, batch, { ...opts, seed: 9 });
    const b = await sampleTokens(fakeDenoiser(h, w), x, batch, { ...opts, seed: 9 });
    const c = await sampleTokens(fakeDenoiser(h, w), x, batch, { ...opts, seed: 10 });
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it('follows the denoiser at low temperature', async () => {
    const x = new Int32Array(n).fill(K);
    const out = await sampleTokens(fakeDenoiser(h, w), x, 1, { steps: 4, sampler, temperature: 0.05, seed: 2 });
    expect(Array.from(out)).toEqual(Array.from({ length: n }, (_, i) => i % K));
  });
});

describe('sampler schedules', () => {
  it('random order reveals about #masked / t per step', async () => {
    const n = 256, steps = 8, batch = 8;
    const counts: number[] = [];
    let prevMasked = batch * n;
    await sampleTokens(fakeDenoiser(16, 16), new Int32Array(batch * n).fill(K), batch, {
      steps, sampler: 'random', seed: 5,
      onStep: ({ step, revealed }) => {
        counts.push(revealed / (prevMasked / (steps - step + 1)));
        prevMasked -= revealed;
      },
    });
    console.log('revealed / expected per step:', counts.map((c) => c.toFixed(2)).join(' '));
    for (const c of counts) expect(Math.abs(c - 1)).toBeLessThan(0.25);
  });

  it('confidence order keeps ⌊U·cos(π/2·(s+1)/S)⌋ masked', async () => {
    const n = 64, steps = 6;
    const remaining: number[] = [];
    await sampleTokens(fakeDenoiser(8, 8), new Int32Array(n).fill(K), 1, {
      steps, sampler: 'confidence', seed: 5,
      onStep: ({ tokens }) => void remaining.push(tokens.filter((v) => v === K).length),
    });
    expect(remaining).toEqual([0, 1, 2, 3, 4, 5].map((s) => (s === steps - 1 ? 0 : cosineRemaining(n, s, steps))));
    expect(gumbelScale(0, 10)).toBeCloseTo(4.05, 10);
    expect(gumbelScale(9, 10)).toBe(0);
  });

  it('waits for a step callback that returns a promise before the next step', async () => {
    const events: string[] = [];
    const inner = fakeDenoiser(4, 4);
    const denoiser: Denoiser = { ...inner, logProbs: (...a) => (events.push('logProbs'), inner.logProbs(...a)) };
    await sampleTokens(denoiser, new Int32Array(16).fill(K), 1, {
      steps: 3,
      onStep: async ({ step }) => {
        await new Promise((r) => setTimeout(r, 5));
        events.push(`step ${step} done`);
      },
    });
    expect(events).toEqual(['logProbs', 'step 1 done', 'logProbs', 'step 2 done', 'logProbs', 'step 3 done']);
  });

  it('rejects bad steps and temperatures with a clear message', async () => {
    const x = new Int32Array(16).fill(K);
    await expect(sampleTokens(fakeDenoiser(4, 4), x, 1, { steps: 0 })).rejects.toThrow(/steps must be an integer from 1 to 16/);
    await expect(sampleTokens(fakeDenoiser(4, 4), x, 1, { steps: 17 })).rejects.toThrow(/steps must be/);
    await expect(sampleTokens(fakeDenoiser(4, 4), x, 1, { steps: 4, temperature: 0 })).rejects.toThrow(/temperature must be > 0/);
  });
});

describe('Halton order', () => {
  it.each([[1, 1], [8, 8], [16, 16], [5, 7], [3, 12]])('is a permutation of the %i×%i grid: every position once', (h, w) => {
    const order = haltonOrder(h, w);
    expect(order).toHaveLength(h * w);
    expect(Array.from(order).sort((a, b) => a - b)).toEqual(Array.from({ length: h * w }, (_, i) => i));
  });

  it('starts where the Halton points (base 2 across, base 3 down) fall on an 8×8 grid', () => {
    // i = 1..4: (x, y) = (1/2, 1/3), (1/4, 2/3), (3/4, 1/9), (1/8, 4/9) → (row, col) (2, 4), (5, 2), (0, 6), (3, 1)
    expect(Array.from(haltonOrder(8, 8).subarray(0, 4))).toEqual([2 * 8 + 4, 5 * 8 + 2, 0 * 8 + 6, 3 * 8 + 1]);
  });

  it('reveals in that order, as many per step as the arccos schedule says', async () => {
    const n = 64, steps = 8;
    const revealed: number[][] = [];
    let prev = new Int32Array(n).fill(K);
    await sampleTokens(fakeDenoiser(8, 8), new Int32Array(n).fill(K), 1, {
      steps, sampler: 'halton', seed: 4,
      onStep: ({ tokens }) => {
        revealed.push(Array.from(tokens.keys()).filter((i) => tokens[i] !== K && prev[i] === K));
        prev = tokens.slice();
      },
    });
    const counts = revealed.map((r) => r.length);
    expect(counts.map((_, s) => counts.slice(0, s + 1).reduce((a, b) => a + b, 0))).toEqual(counts.map((_, s) => arccosRevealed(n, s, steps)));
    const order = Array.from(haltonOrder(8, 8));
    let at = 0;
    for (const step of revealed) for (const pos of step.sort((a, b) => order.indexOf(a) - order.indexOf(b))) expect(pos).toBe(order[at++]);
  });
});

describe('remasking sampler', () => {
  it('re-masks revealed tokens but never a given one (inpainting), and ends with every token revealed', async () => {
    const h = 8, w = 8, n = 64, batch = 4;
    const x = new Int32Array(batch * n).fill(K);
    const given = new Set<number>();
    for (let b = 0; b < batch; b++) for (let i = 0; i < n; i++) if ((i * 7 + b) % 3 === 0) given.add(b * n + i);
    for (const g of given) x[g] = 1;
    let remasked = 0;
    let prev = x.slice();
    // temperature 3 draws many unlikely codes, the tokens the remasking goes back to
    const out = await sampleTokens(fakeDenoiser(h, w), x, batch, {
      steps: 16, sampler: 'remask', temperature: 3, seed: 11,
      onStep: ({ tokens }) => {
        for (const g of given) expect(tokens[g]).toBe(1);
        tokens.forEach((v, i) => void (v === K && prev[i] !== K && remasked++));
        prev = tokens.slice();
      },
    });
    console.log(`re-masked ${remasked} tokens over 16 steps (cap η = ${REMASK_CAP})`);
    expect(remasked).toBeGreaterThan(0);
    expect(out.every((v) => v !== K)).toBe(true);
    for (const g of given) expect(out[g]).toBe(1);
  });

  it('is in the sampler list with the others', () => {
    expect(Object.keys(SAMPLERS)).toEqual(['random', 'confidence', 'halton', 'remask']);
  });
});
