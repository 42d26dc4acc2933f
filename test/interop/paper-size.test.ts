// 256×256 in practice: a model with the released models' structure at narrow widths (random weights;
// test/helpers/paper-model.ts) runs every task at the paper's size — sample, complete, inpaint, stitch,
// reconstruct and −log p(x | z) through the library, extend to the paper's 512×256 landscapes through
// the CLI. The same at the full widths: scripts/paper-size.ts (minutes on two cores, so not in npm test).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImage } from '../../src/data/png.ts';
import { loadModel } from '../../src/inference/model-dir.ts';
import type { UnmaskModel } from '../../src/inference/model.ts';
import { boxMask, complete, generate, inpaint, stitch } from '../../src/inference/tasks.ts';
import { cli } from '../helpers/cli.ts';
import { writePaperShapedModel } from '../helpers/paper-model.ts';

const dir = mkdtempSync(join(tmpdir(), 'unmask-paper-'));
const dirModel = join(dir, 'model');
const image = { n: 1, channels: 3, height: 256, width: 256, data: Float32Array.from({ length: 3 * 256 * 256 }, (_, i) => 0.5 + 0.4 * Math.sin(i / 97)) };
let model: UnmaskModel;
beforeAll(() => {
  writePaperShapedModel(dirModel, { narrow: true, logSigma: true });
  model = loadModel(dirModel);
});
afterAll(async () => {
  await model.release();
  rmSync(dir, { recursive: true, force: true });
});

describe("the paper's structure at 256×256, end to end", () => {
  it('generates, completes, inpaints and stitches 256×256 images', async () => {
    const o = { n: 1, steps: 2, seed: 1 };
    for (const r of [await generate(model, o), await complete(model, image, 'top', o), await inpaint(model, image, boxMask({ x: 64, y: 64, w: 128, h: 128 }, 256, 256), o), await stitch(model, image, image, 4, o)]) {
      expect([r.images.width, r.images.height, r.grid]).toEqual([256, 256, [16, 16]]);
      expect(r.images.data.every(Number.isFinite)).toBe(true);
    }
    expect((await model.tokenizer.reconstruct(image.data, 1)).length).toBe(3 * 256 * 256);
  });

  it('gives −log p(x | z) of a 256×256 image under the log σ head', async () => {
    // The prior's ELBO is the same code at any size (test/inference/likelihood.test.ts).
    const { codes, nats } = await model.tokenizer.nll(image.data, 1);
    expect(codes).toHaveLength(256);
    expect(Number.isFinite(nats[0])).toBe(true);
  });

  it('extends to the paper’s 512×256 landscape size through the CLI', async () => {
    const out = join(dir, 'extend.png');
    const r = await cli('extend', '--model', dirModel, '--size', '512x256', '--n', '1', '--steps', '2', '--out', out);
    expect(r.code).toBe(0);
    // One image with 2-px padding around it.
    const img = await readImage(out, { channels: 3 });
    expect([img.width, img.height]).toEqual([516, 260]);
  });
});
