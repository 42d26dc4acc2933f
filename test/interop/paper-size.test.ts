// 256×256 in practice: a model with the released models' shapes (random weights) runs sample, inpaint
// and extend to the paper's 512×256 landscape size end to end through the CLI, as an imported model
// would; each run prints its time (the machine is shared, so these are no benchmark).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImage, writeImage } from '../../src/data/png.ts';
import { cli } from '../helpers/cli.ts';
import { writePaperShapedModel } from '../helpers/paper-model.ts';

const dir = mkdtempSync(join(tmpdir(), 'unmask-paper-'));
const model = join(dir, 'model');
const photo = join(dir, 'photo.png');
beforeAll(async () => {
  const t0 = performance.now();
  const counts = writePaperShapedModel(model);
  console.log(`paper-shaped model: ${(counts.tokenizerParameters / 1e6).toFixed(1)} M tokenizer + ${(counts.priorParameters / 1e6).toFixed(1)} M prior parameters, written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const data = Float32Array.from({ length: 3 * 256 * 256 }, (_, i) => 0.5 + 0.4 * Math.sin(i / 97));
  await writeImage(photo, { n: 1, channels: 3, height: 256, width: 256, data });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], out: string, size: [number, number]): Promise<void> {
  const t0 = performance.now();
  const r = await cli(...args, '--model', model, '--n', '1', '--steps', '2', '--out', out);
  const rss = process.memoryUsage().rss;
  console.log(`${args[0]}: ${((performance.now() - t0) / 1000).toFixed(1)} s (sessions built on first use), process memory ${(rss / 2 ** 30).toFixed(2)} GiB`);
  expect(r.err).toContain('wrote');
  expect(r.code).toBe(0);
  const img = await readImage(out, { channels: 3 });
  expect([img.width, img.height]).toEqual(size);
}

/** The written grid: images side by side with 2-px padding around each. */
const grid = (cols: number, w: number, h: number): [number, number] => [cols * w + (cols + 1) * 2, h + 2 * 2];

describe("the paper's model size, end to end", () => {
  it('samples a 256×256 image', () => run(['sample'], join(dir, 'sample.png'), grid(1, 256, 256)));
  // The grid leads with the input and the mask.
  it('inpaints a box of a 256×256 image', () => run(['inpaint', '--in', photo, '--box', '64,64,128,128'], join(dir, 'inpaint.png'), grid(3, 256, 256)));
  it('extends to the paper’s 512×256 landscape size', () => run(['extend', '--size', '512x256'], join(dir, 'extend.png'), grid(1, 512, 256)));
});
