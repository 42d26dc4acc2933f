import { describe, expect, it } from 'vitest';
import { upscale } from '../../src/data/png.ts';

describe('upscale', () => {
  it('repeats each pixel k×k per channel', () => {
    const img = { channels: 2, height: 1, width: 2, data: Float32Array.from([1, 2, 3, 4]) };
    const big = upscale(img, 2);
    expect([big.width, big.height]).toEqual([4, 2]);
    expect(Array.from(big.data)).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    expect(upscale(img, 1)).toBe(img);
    expect(() => upscale(img, 0)).toThrow(/whole number/);
  });
});
