// Likelihood in bits per dimension, as the paper reports it: the formula against a hand-computed value,
// −log p(x | z) of an imported model against PyTorch's for the same image, and the CLI's report with and
// without the decoder's log σ head.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../src/data/png.ts';
import { decodeSafetensors } from '../../src/engine/safetensors.ts';
import { bitsPerDim, likelihood } from '../../src/inference/likelihood.ts';
import { loadModel } from '../../src/inference/model-dir.ts';
import { importReference } from '../../src/interop/import.ts';
import { cli } from '../helpers/cli.ts';

/** As test/interop/import.test.ts: float32 sums of 768 terms against PyTorch's float64. */
const NLL_RTOL = 1e-5;

const FIXTURES = new URL('../fixtures/torch/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'unmask-likelihood-'));
const model = join(dir, 'tiny');
beforeAll(async () => {
  await importReference({ vqgan: join(FIXTURES, 'tiny-vqgan.zip-f32.th'), prior: join(FIXTURES, 'tiny-prior.zip-f32.th'), heads: 4, out: model });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('likelihood', () => {
  it('turns nats into bits per dimension with 5-bit pixels', () => {
    // (1000 + 500 + 768·ln 32) / (768·ln 2), by hand: 7.8177637517362575.
    expect(bitsPerDim(1000, 500, 768)).toBeCloseTo(7.8177637517362575, 12);
  });

  it("reports −log p(x | z) as PyTorch computes it and adds the prior's ELBO", async () => {
    const e = decodeSafetensors(new Uint8Array(readFileSync(join(FIXTURES, 'tiny-expected.safetensors')))).tensors;
    const seed = Number((e.image_seed.data as BigInt64Array)[0]);
    // reference/make_torch_checkpoints.py's hashed_images, first image of the batch.
    const data = Float32Array.from({ length: 3 * 16 * 16 }, (_, i) => (Math.imul(i + 1000003 * seed, 2654435761 | 0) >>> 0) / 2 ** 32);
    const m = loadModel(model);
    const r = await likelihood(m, { n: 1, channels: 3, height: 16, width: 16, data }, { seed: 3 });
    await m.release();
    const want = (e.nll.data as Float32Array)[0];
    console.log(`tiny model: −log p(x|z) ${r.nllGivenCodes} nats (PyTorch ${want}), ELBO ${r.bitsPerToken} bits/token, ${r.bitsPerDim} bits/dim`);
    expect(Math.abs(r.nllGivenCodes! - want) / Math.abs(want)).toBeLessThan(NLL_RTOL);
    expect(r.bound).toBe('ELBO');
    expect(r.bitsPerToken).toBeGreaterThan(0);
    expect(r.bitsPerDim).toBe(bitsPerDim(r.nllGivenCodes!, r.bitsPerToken * 64 * Math.LN2, 768));
  });

  it('prints bits per dimension when the model has the log σ head, and says why not otherwise', async () => {
    const png = join(dir, 'in.png');
    await writeImage(png, { n: 1, channels: 3, height: 32, width: 32, data: Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => (i % 7) / 6) });
    const withHead = await cli('likelihood', '--model', model, '--in', png);
    expect(withHead.code).toBe(0);
    expect(withHead.out).toMatch(/^.*in\.png: ELBO \d+\.\d{4} bits per token \(\d+\.\d bits for 64 tokens\); \d+\.\d{4} bits per dimension \(−log p\(x \| z\) -?\d+\.\d nats, 5-bit pixels\)\n$/);
    const without = await cli('likelihood', '--model', 'emoji', '--in', png, '--json');
    const j = JSON.parse(without.out);
    expect(j).toMatchObject({ bound: 'ELBO', tokens: 64, bitsPerDim: null, nllGivenCodes: null });
    expect(j.note).toContain('log σ head');
  });
});
