// Jobs estimate what they will take from their sizes and refuse, before starting, what cannot finish.
// Before, `extend --size 2048x2048` sampled for half an hour and then failed at decoding asking for
// 275 GB; `extend --size 100000x100000` grew past 5 GB before failing on a typed-array length.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { loadFolder } from '../../src/data/folder.ts';
import { writeImage } from '../../src/data/png.ts';
import { decoderCost, estimateSampling } from '../../src/inference/budget.ts';
import { loadModel } from '../../src/inference/model-dir.ts';
import { cli } from '../helpers/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'unmask-budget-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('estimates', () => {
  it("the decoder's attention over the latent grid is what a big canvas cannot hold", async () => {
    const model = loadModel('emoji');
    const c = model.tokenizer.config;
    // 2048 px at 4 px per token: 512×512 tokens, one 262144² float32 attention map is 275 GB.
    expect(decoderCost(c, 512, 512).bytes).toBeGreaterThan(2 * 262144 ** 2 * 4);
    const job = (px: number) => estimateSampling(model.prior, c, { n: 2, steps: 50, grid: [px / 4, px / 4] });
    const sizes = [32, 64, 256, 1024, 2048];
    const bytes = sizes.map((px) => job(px).bytes);
    console.log(`extend estimates (emoji, n 2, 50 steps): ${sizes.map((px, i) => `${px}²: ${(bytes[i] / 1e9).toFixed(3)} GB, ${job(px).seconds.toFixed(0)} s`).join('; ')}`);
    expect(bytes.every((b, i) => i === 0 || b > bytes[i - 1])).toBe(true);
    expect(bytes[0]).toBeLessThan(1e8);
    await model.release();
  });
});

describe('refused before any work', () => {
  it('extend to 2048x2048 and 100000x100000, naming the limit, the largest size that fits and how to raise it', async () => {
    vi.stubEnv('UNMASK_MAX_MEMORY', '20GB');
    for (const size of ['2048x2048', '100000x100000']) {
      const t0 = performance.now();
      const r = await cli('extend', '--size', size, '--out', join(root, 'never.png'));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^unmask: extend to \d+×\d+ \(2 image\(s\)\) needs about [\d.]+ [GTPE]B of memory, more than the 20 GB allowed \(set by UNMASK_MAX_MEMORY\) — choose a smaller --size \(at most about (\d+)x\1 fits\), or raise the limit with UNMASK_MAX_MEMORY=[\d.]+[GTPE]B if the machine has that much\n$/);
      expect(performance.now() - t0).toBeLessThan(10_000);
    }
  }, 30_000);

  it('the default limit comes from the machine', async () => {
    const r = await cli('extend', '--size', '2048x2048', '--out', join(root, 'never.png'));
    expect(r.err).toMatch(/more than the [\d.]+ [GT]B allowed \(80% of the [\d.]+ [GT]B this machine has\)/);
  }, 30_000);

  it('any sampling job past a lowered limit, a huge code grid to decode, a folder too big to hold', async () => {
    vi.stubEnv('UNMASK_MAX_MEMORY', '1MB');
    const s = await cli('sample', '--model', 'fashion', '--n', '16', '--out', join(root, 'never.png'));
    expect(s.err).toMatch(/^unmask: 16 image\(s\) needs about [\d.]+ MB of memory, more than the 1\.0 MB allowed \(set by UNMASK_MAX_MEMORY\) — ask for fewer images with --n, or drop --frames/);
    vi.stubEnv('UNMASK_MAX_MEMORY', '2GB');
    const grid = join(root, 'big.json');
    writeFileSync(grid, JSON.stringify({ height: 1000, width: 1000, codes: Array.from({ length: 1000 }, () => new Array(1000).fill(0)) }));
    const d = await cli('decode', '--model', 'fashion', '--in', grid, '--out', join(root, 'never.png'));
    expect(d.err).toMatch(/^unmask: decoding a 1000×1000 code grid needs about [\d.]+ [TP]B of memory/);
    vi.stubEnv('UNMASK_MAX_MEMORY', 'lots');
    expect((await cli('sample', '--out', join(root, 'never.png'))).err).toBe("unmask: UNMASK_MAX_MEMORY='lots' is not an amount of memory — set it like UNMASK_MAX_MEMORY=32GB, or unset it\n");
  });

  it('an image past the pixel limit, read from its header alone', async () => {
    const dir = join(root, 'huge');
    mkdirSync(dir);
    for (const name of ['a.png', 'b.png']) await writeImage(join(dir, name), { n: 1, channels: 1, height: 300, width: 400, data: new Float32Array(120000).fill(0.5) });
    vi.stubEnv('UNMASK_MAX_PIXELS', '100000');
    await expect(loadFolder(dir, 32, 1)).rejects.toThrow(/a\.png is 400×300 \(0\.12 megapixels\), more than the 0\.1 megapixels an input may have \(set by UNMASK_MAX_PIXELS\) — scale it down first, or raise the limit with UNMASK_MAX_PIXELS/);
    vi.unstubAllEnvs();
    vi.stubEnv('UNMASK_MAX_MEMORY', '1kB');
    await expect(loadFolder(dir, 32, 1)).rejects.toThrow(/huge: 2 images at 32×32 needs about 8\.2 kB of memory/);
  });
});
