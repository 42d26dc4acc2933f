// The host image type's pure helpers, against values worked out by hand.
import { describe, expect, it } from 'vitest';
import { type Images, imageAt, imageGrid, rgba, upscale } from '../../src/data/images.ts';
import { type ImageSet, classFrequencies } from '../../src/data/image-set.ts';

describe('images', () => {
  it('views image i of a batch without copying', () => {
    const batch: Images = { n: 3, channels: 1, height: 1, width: 2, data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    const second = imageAt(batch, 1);
    expect([second.n, Array.from(second.data)]).toEqual([1, [3, 4]]);
    expect(second.data.buffer).toBe(batch.data.buffer);
    expect(() => imageAt(batch, 3)).toThrow('no image 3 in a batch of 3 — ask for an image from 0 to 2');
  });

  it('lays out every image of every batch row-major with padding', () => {
    const one: Images = { n: 1, channels: 1, height: 1, width: 1, data: Float32Array.from([0.1]) };
    const two: Images = { n: 2, channels: 1, height: 1, width: 1, data: Float32Array.from([0.2, 0.3]) };
    const grid = imageGrid([one, two], { cols: 2, pad: 1, background: 1 });
    // 2 rows × 2 cols of 1×1 images with 1 px padding: 5×5.
    expect([grid.n, grid.height, grid.width]).toEqual([1, 5, 5]);
    const at = (y: number, x: number) => grid.data[y * 5 + x];
    expect([at(1, 1), at(1, 3), at(3, 1), at(3, 3), at(0, 0), at(2, 2)]).toEqual([0.1, 0.2, 0.3, 1, 1, 1].map(Math.fround));
    expect(() => imageGrid([one, { ...two, width: 2, data: new Float32Array(4) }])).toThrow(/images differ in shape \(1×1×1 and 1×1×2\)/);
  });

  it('gives 8-bit RGBA pixels, greyscale into R, G and B', () => {
    const grey: Images = { n: 2, channels: 1, height: 1, width: 2, data: Float32Array.from([0, 1, 0.5, 0.2]) };
    expect(Array.from(rgba(grey, 1).data)).toEqual([128, 128, 128, 255, 51, 51, 51, 255]);
    const rgb: Images = { n: 1, channels: 3, height: 1, width: 1, data: Float32Array.from([1, 0.5, 0]) };
    expect(rgba(rgb)).toEqual({ width: 1, height: 1, data: Uint8ClampedArray.from([255, 128, 0, 255]) });
  });

  it('upscale repeats each pixel k×k per channel and image', () => {
    const img: Images = { n: 2, channels: 1, height: 1, width: 2, data: Float32Array.from([1, 2, 3, 4]) };
    const big = upscale(img, 2);
    expect([big.n, big.width, big.height]).toEqual([2, 4, 2]);
    expect(Array.from(big.data)).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    expect(upscale(img, 1)).toBe(img);
    expect(() => upscale(img, 0)).toThrow(/whole number/);
  });
});

describe('class frequencies', () => {
  it("gives each class's share of a labelled set, and nothing for an unlabelled one", () => {
    const labels = [2, 0, 2, 2, 1, 2, 0, 2];
    const set: ImageSet = { name: 't', channels: 1, size: 1, count: labels.length, read: () => {}, label: (i) => labels[i], classes: ['a', 'b', 'c', 'd'] };
    expect(classFrequencies(set)).toEqual([0.25, 0.125, 0.625, 0]);
    expect(classFrequencies({ ...set, label: undefined, classes: undefined })).toEqual([]);
  });
});
