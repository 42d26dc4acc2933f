// `precision: 'int8'` against float32 on a real model: the embedded fashion prior's predictions for the
// masked codes of half-masked real-looking grids (its own samples). Per step the two agree closely; whole
// samples differ in many codes, since one different draw changes every later step (README, Performance:
// FID within noise in `unmask eval`).
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/rng.ts';
import { loadModel } from '../../src/inference/model-dir.ts';
import { generate } from '../../src/inference/tasks.ts';

const model = loadModel('fashion');
afterAll(() => model.release());

describe('int8 prior against float32 (embedded fashion model)', () => {
  it('predicts the same most likely code at ≥ 95% of masked positions, mean KL < 2e-3 nats (97.7%, 3.7e-4 here)', async () => {
    const n = 32;
    const { tokens: grids } = await generate(model, { n, steps: 8, seed: 1, temperature: 1 });
    const N = model.prior.latent ** 2;
    const K = model.prior.codebookSize;
    const rng = new Rng(5);
    const tokens = grids.slice();
    const masked: number[][] = [];
    for (let b = 0; b < n; b++) {
      const p: number[] = [];
      for (let j = 0; j < N; j++) if (rng.next() < 0.5) p.push(j);
      if (!p.length) p.push(0);
      for (const j of p) tokens[b * N + j] = K;
      masked.push(p);
    }
    const m = Math.max(...masked.map((p) => p.length));
    const positions = new Int32Array(n * m);
    masked.forEach((p, b) => p.forEach((_, j) => (positions[b * m + j] = p[j])));
    for (let b = 0; b < n; b++) for (let j = masked[b].length; j < m; j++) positions[b * m + j] = masked[b][0];
    const fp32 = await model.denoiser('fp32').logProbs(tokens, n, positions, m);
    const int8 = await model.denoiser('int8').logProbs(tokens, n, positions, m);
    let agree = 0, count = 0, kl = 0;
    for (let b = 0; b < n; b++) {
      for (let j = 0; j < masked[b].length; j++) {
        const o = (b * m + j) * K;
        let a = 0, c = 0;
        for (let k = 0; k < K; k++) {
          if (fp32[o + k] > fp32[o + a]) a = k;
          if (int8[o + k] > int8[o + c]) c = k;
          kl += Math.exp(fp32[o + k]) * (fp32[o + k] - int8[o + k]);
        }
        agree += +(a === c);
        count++;
      }
    }
    console.log(`int8 vs fp32: argmax agreement ${((100 * agree) / count).toFixed(2)}% of ${count} masked positions; mean KL ${(kl / count).toExponential(2)} nats`);
    expect(agree / count).toBeGreaterThanOrEqual(0.95);
    expect(kl / count).toBeLessThan(2e-3);
  });
});
