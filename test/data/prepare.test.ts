// A user's image is prepared as the model's training images were, and boxes and masks are given in the
// input image's pixels. Before, a real Fashion-MNIST PNG (28×28) was scaled up to 32×32 although the
// model was trained on images padded to 32, and `inpaint --in 64px.png --box 16,16,32,32` was refused
// as "not inside the 32×32 image".
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { loadFashion } from '../../src/data/fashion.ts';
import { readImage, writeImage } from '../../src/data/png.ts';
import { mapBox, readFitted, readFittedMask } from '../../src/data/prepare.ts';
import { MODELS_DIR, loadModel } from '../../src/inference/model-dir.ts';
import { psnr } from '../../src/inference/tokenizer.ts';
import { cli } from '../helpers/cli.ts';
import { withEditedConfig } from '../helpers/tiny-model.ts';

const root = mkdtempSync(join(tmpdir(), 'unmask-prepare-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const FASHION = { channels: 1 as const, size: 32, preparation: { fit: 'contain' as const, content: 28, background: 0 } };

async function square(file: string, side: number, channels: 1 | 3 = 1): Promise<string> {
  await writeImage(file, { n: 1, channels, height: side, width: side, data: new Float32Array(channels * side * side).map((_, i) => ((i * 7) % 13) / 13) });
  return file;
}

describe('inputs prepared like the training images', () => {
  it('a Fashion-MNIST PNG is padded to 32, as in training, and reconstructs as well as the training images do', async () => {
    const n = 8;
    const raw = loadFashion({ size: 28, train: 0, val: n }).val;
    const padded = loadFashion({ size: 32, train: 0, val: n }).val;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const file = join(root, `fashion-${i}.png`);
      const data = new Float32Array(28 * 28);
      raw.read(i, data, 0);
      await writeImage(file, { n: 1, channels: 1, height: 28, width: 28, data });
      const out = join(root, `rec-${i}.png`);
      const r = await cli('reconstruct', '--model', 'fashion', '--in', file, '--out', out);
      expect(r.code).toBe(0);
      if (i === 0) expect(r.err).toContain(`${file} (28×28) fitted to the model's 32×32 as its training images were: kept at 28×28, with a 2-px border of black\n`);
      const truth = new Float32Array(32 * 32);
      padded.read(i, truth, 0);
      total += psnr(truth, (await readImage(out, { channels: 1 })).data, 1);
    }
    console.log(`fashion 28×28 PNGs reconstructed through unmask reconstruct: mean PSNR ${(total / n).toFixed(2)} dB against the padded originals (${n} validation images)`);
    expect(total / n).toBeGreaterThan(21);
  });

  it('an image already at the model size is used as it is; other sizes go through the recorded fit', async () => {
    const same = await readFitted(await square(join(root, 's32.png'), 32), FASHION);
    expect(same.how).toMatch(/is 32×32, the model's size: used as it is$/);
    expect(same.map).toEqual({ ax: 1, bx: 0, ay: 1, by: 0 });
    const big = await readFitted(await square(join(root, 's64.png'), 64), FASHION);
    expect(big.how).toMatch(/\(64×64\) fitted to the model's 32×32 as its training images were: scaled ×0\.438 to fit 28×28, with a 2-px border of black$/);
    expect(big.map).toEqual({ ax: 28 / 64, bx: 2, ay: 28 / 64, by: 2 });
    const border = [0, 1, 30, 31].flatMap((y) => [0, 1, 30, 31].map((x) => big.image.data[y * 32 + x]));
    expect(border.every((v) => v === 0)).toBe(true);
  });

  it('a model folder written before the preparation was recorded loads, fitting by cover on white', async () => {
    const old = withEditedConfig(join(MODELS_DIR, 'fashion'), join(root, 'old-model'), (c) => delete c.tokenizer.input);
    const model = loadModel(old);
    expect(model.tokenizer.config.input).toEqual({ fit: 'cover', background: 1 });
    await model.release();
  });
});

describe('boxes and masks in the input image\'s pixels', () => {
  it('are mapped with the image', async () => {
    const big = await readFitted(await square(join(root, 'b64.png'), 64), FASHION);
    expect(mapBox({ x: 16, y: 16, w: 32, h: 32 }, big, 32, '--box')).toEqual({ x: 9, y: 9, w: 14, h: 14 });
    expect(() => mapBox({ x: 40, y: 0, w: 32, h: 8 }, big, 32, '--box')).toThrow(/--box 40,0,32,8 is not inside the 64×64 image .* — give a box within it \(x \+ w ≤ 64, y \+ h ≤ 64\)/);
    await writeImage(join(root, 'wide.png'), { n: 1, channels: 1, height: 32, width: 128, data: new Float32Array(32 * 128).fill(0.5) });
    const wide = await readFitted(join(root, 'wide.png'), { ...FASHION, preparation: { fit: 'cover', background: 1 } });
    expect(() => mapBox({ x: 0, y: 0, w: 16, h: 8 }, wide, 32, '--box')).toThrow(/falls in the part of .* cropped away when it was fitted to the model/);
    const mask = join(root, 'mask64.png');
    await writeImage(mask, { n: 1, channels: 1, height: 64, width: 64, data: new Float32Array(64 * 64).map((_, i) => (i % 64 >= 32 ? 1 : 0)) });
    const m = await readFittedMask(mask, big, FASHION);
    expect(m).toHaveLength(32 * 32);
    expect(m[16 * 32 + 5]).toBe(0);
    expect(m[16 * 32 + 25]).toBeGreaterThan(0.5);
    expect(m[0 * 32 + 31]).toBe(0); // the border is never selected
    await expect(readFittedMask(join(root, 's32.png'), big, FASHION)).rejects.toThrow(/the mask is 32×32 but the image .* is 64×64 — draw the mask at the image's size/);
  });

  it('inpaint takes a box on a 64-px input and says how the input was fitted', async () => {
    const input = await square(join(root, 'in64.png'), 64);
    const out = join(root, 'inpainted.png');
    const r = await cli('inpaint', '--model', 'fashion', '--in', input, '--box', '16,16,32,32', '--n', '1', '--steps', '2', '--out', out, '--json');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out.trimEnd().split('\n').at(-1)!);
    expect(summary.inputs).toEqual([{ file: input, width: 64, height: 64, fitted: expect.stringContaining('scaled ×0.438 to fit 28×28, with a 2-px border of black') }]);
  });
});
