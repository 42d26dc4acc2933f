// `unmask sample --model fashion-classes --class sneaker` (the embedded class-conditional fashion model)
// writes sneakers: the committed feature
// network (models/features/fashion.onnx, 89% accurate on real validation images) reads the written grid
// back and must call at least 80% of 64 guided samples a sneaker. The model is class-conditional with a
// null label (Bond-Taylor et al. 2022 train unconditionally; the label token and classifier-free
// guidance, Ho & Salimans 2021, are unmask's addition), so unconditional sampling uses the same weights.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { FASHION_CLASSES } from '../../src/data/fashion.ts';
import { readImage } from '../../src/data/png.ts';
import { OnnxFeatures } from '../../src/eval/onnx-features.ts';
import { committedFeatures, loadModel } from '../../src/inference/model-dir.ts';

const dir = mkdtempSync(join(tmpdir(), 'unmask-sample-class-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The 32×32 tiles of a sample grid: 8 columns, 2 px of padding around and between images. */
function tiles(grid: Float32Array, width: number, n: number): Float32Array {
  const out = new Float32Array(n * 32 * 32);
  for (let i = 0; i < n; i++) {
    const top = 2 + Math.floor(i / 8) * 34;
    const left = 2 + (i % 8) * 34;
    for (let y = 0; y < 32; y++) out.set(grid.subarray((top + y) * width + left, (top + y) * width + left + 32), (i * 32 + y) * 32);
  }
  return out;
}

describe('unmask sample --class', () => {
  it('the embedded class-conditional fashion model lists its classes', async () => {
    const model = loadModel('fashion-classes');
    try {
      expect(model.classes).toEqual([...FASHION_CLASSES]);
    } finally {
      await model.release();
    }
  });

  it('writes sneakers: the committed classifier calls ≥ 80% of 64 guided samples a sneaker', async () => {
    const out = join(dir, 'sneakers.png');
    const code = await main(['node', 'unmask', 'sample', '--model', 'fashion-classes', '--class', 'sneaker', '--guidance', '2', '--n', '64', '--steps', '16', '--seed', '1', '--out', out]);
    expect(code).toBe(0);
    const grid = await readImage(out, { channels: 1 });
    expect([grid.width, grid.height]).toEqual([8 * 34 + 2, 8 * 34 + 2]);
    const net = await OnnxFeatures.open(committedFeatures('fashion')!, 1, 32);
    try {
      const classes = await net.classify(tiles(grid.data, grid.width, 64), 64);
      const sneaker = FASHION_CLASSES.indexOf('Sneaker');
      const share = classes.filter((c) => c === sneaker).length / 64;
      console.log(`sample --class sneaker --guidance 2: ${(100 * share).toFixed(1)}% of 64 classified as Sneaker`);
      expect(share).toBeGreaterThanOrEqual(0.8);
    } finally {
      await net.release();
    }
  });
});
