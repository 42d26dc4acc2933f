// The int8 prior on a trained model (the embedded Fashion-MNIST one): its predictions against the
// float32 prior's on the same partly masked grids, and its samples are as deterministic as float32's.
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/rng.ts';
import { loadModel } from '../../src/inference/model-dir.ts';
import { generate } from '../../src/inference/tasks.ts';

/**
 * Measured on this model: the most likely code agrees at 97.5–98.4% of masked positions for masking
 * rates 0.25–1 and KL(fp32 ‖ int8) is 0.5–4·10⁻⁴ nats per position; ties between near-equal codes
 * are what flip. The bounds leave room for other CPUs' rounding and still fail a broken int8 path
 * (a wrong scale or a transposed weight gives near-chance agreement and KL of nats).
 */
const MIN_ARGMAX_AGREEMENT = 0.95;
const MAX_MEAN_KL = 2e-3;

const model = loadModel('fashion');
afterAll(() => model.release());

describe('int8 prior on the embedded fashion model', () => {
  it(`agrees with float32 on the most likely code at ≥ ${MIN_ARGMAX_AGREEMENT * 100}% of masked positions, KL ≤ ${MAX_MEAN_KL} nats`, async () => {
    const n = 16;
    const grids = (await generate(model, { n, steps: 8, seed: 4 })).tokens;
    const N = model.prior.latent ** 2;
    const K = model.prior.codebookSize;
    const rng = new Rng(5);
    const m = N / 2;
    const masked = grids.slice();
    const positions = new Int32Array(n * m);
    for (let b = 0; b < n; b++) {
      const order = rng.permutation(N).slice(0, m);
      order.forEach((j, i) => {
        positions[b * m + i] = j;
        masked[b * N + j] = K;
      });
    }
    const a = await model.denoiser('fp32').logProbs(masked, n, positions, m);
    const q = await model.denoiser('int8').logProbs(masked, n, positions, m);
    let [agree, kl] = [0, 0];
    for (let o = 0; o < a.length; o += K) {
      let [ia, iq] = [o, o];
      for (let j = o; j < o + K; j++) {
        if (a[j] > a[ia]) ia = j;
        if (q[j] > q[iq]) iq = j;
        kl += Math.exp(a[j]) * (a[j] - q[j]);
      }
      agree += +(ia - o === iq - o);
    }
    const positionsCount = a.length / K;
    console.log(`int8 vs fp32 at ${positionsCount} masked positions: argmax agreement ${((100 * agree) / positionsCount).toFixed(2)}%, mean KL ${(kl / positionsCount).toExponential(2)} nats`);
    expect(agree / positionsCount).toBeGreaterThanOrEqual(MIN_ARGMAX_AGREEMENT);
    expect(kl / positionsCount).toBeLessThanOrEqual(MAX_MEAN_KL);
  });

  it('samples the same images for the same seed', async () => {
    const o = { n: 4, steps: 8, seed: 9, precision: 'int8' as const };
    const [x, y] = [await generate(model, o), await generate(model, o)];
    expect(y.tokens).toEqual(x.tokens);
    expect(y.images.data).toEqual(x.images.data);
  });
});
