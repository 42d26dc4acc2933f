// The committed feature networks (models/features/): unmask eval's default feature space for the
// built-in data, and a classifier good enough to say which class a generated image shows.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadFashion } from '../../src/data/fashion.ts';
import { OnnxFeatures } from '../../src/eval/onnx-features.ts';
import { committedFeatures } from '../../src/inference/model-dir.ts';

describe('committed feature networks', () => {
  it('are found for fashion and emoji, and for nothing else', () => {
    for (const data of ['fashion', 'emoji']) expect(existsSync(committedFeatures(data)!)).toBe(true);
    for (const data of ['emoji64', 'some/folder', '../fashion']) expect(committedFeatures(data)).toBeNull();
  });

  it('fashion.onnx gives 128-d features and classifies real validation images (89.2% on 2,000 when trained)', async () => {
    const { val } = loadFashion({ size: 32, train: 0, val: 256 });
    const net = await OnnxFeatures.open(committedFeatures('fashion')!, 1, 32);
    try {
      const images = new Float32Array(256 * 32 * 32);
      for (let i = 0; i < 256; i++) val.read(i, images, i * 32 * 32);
      expect(net.dim).toBe(128);
      const classes = await net.classify(images, 256);
      const accuracy = classes.filter((c, i) => c === val.label!(i)).length / 256;
      console.log(`fashion.onnx: ${(100 * accuracy).toFixed(1)}% of the first 256 validation images classified correctly`);
      expect(accuracy).toBeGreaterThan(0.85);
    } finally {
      await net.release();
    }
  });
});
