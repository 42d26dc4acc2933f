// PNG in/out through sharp: exact round trips of 8-bit values, alpha composited on white, grids written
// as one PNG, and one-line errors that name the file.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { type Images, imageGrid } from '../../src/data/images.ts';
import { encodePng, readImage, writeImage } from '../../src/data/png.ts';

const dir = mkdtempSync(join(tmpdir(), 'unmask-png-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Values k/255 survive 8-bit PNG exactly (up to float rounding). */
function ramp(channels: number, height: number, width: number): Images {
  const data = new Float32Array(channels * height * width).map((_, i) => ((i * 37) % 256) / 255);
  return { n: 1, channels, height, width, data };
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('png', () => {
  it('round-trips RGB and greyscale CHW images through PNG', async () => {
    for (const channels of [1, 3] as const) {
      const img = ramp(channels, 5, 7);
      const file = join(dir, `ramp${channels}.png`);
      await writeImage(file, img);
      const back = await readImage(file, { channels });
      expect([back.channels, back.height, back.width]).toEqual([channels, 5, 7]);
      const d = maxDiff(img.data, back.data);
      console.log(`round trip ${channels}×5×7: max |diff| ${d.toExponential(2)} (tolerance 1e-6)`);
      expect(d).toBeLessThan(1e-6);
    }
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('clamps out-of-range values when writing', async () => {
    const file = join(dir, 'clamp.png');
    await writeImage(file, { n: 1, channels: 1, height: 1, width: 3, data: new Float32Array([-0.5, 0.5, 1.5]) });
    const back = await readImage(file, { channels: 1 });
    expect(Array.from(back.data)).toEqual([0, 128 / 255, 1].map(Math.fround));
  });

  it('composites transparency on white and converts grey to RGB', async () => {
    // One RGBA row: opaque black, transparent black, half-transparent black (alpha 102 = 0.4).
    const file = join(dir, 'alpha.png');
    const rgba = Buffer.from([0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 102]);
    writeFileSync(file, await sharp(rgba, { raw: { width: 3, height: 1, channels: 4 } }).png().toBuffer());
    const grey = await readImage(file, { channels: 1 });
    const rgb = await readImage(file, { channels: 3 });
    const want = [0, 1, 1 - 0.4]; // black·α + white·(1 − α)
    const tol = 1.5 / 255;
    console.log(`alpha on white: got ${Array.from(grey.data).map((v) => v.toFixed(3))}, want ${want} (tolerance ${tol.toFixed(4)})`);
    for (let i = 0; i < 3; i++) {
      expect(Math.abs(grey.data[i] - want[i])).toBeLessThan(tol);
      for (let c = 0; c < 3; c++) expect(Math.abs(rgb.data[c * 3 + i] - want[i])).toBeLessThan(tol);
    }
  });

  it('scales and centre-crops on request, and refuses a wrong size otherwise', async () => {
    // 8 wide × 4 high: left half black, right half white; 'cover' to 4×4 keeps the middle 4 columns.
    const file = join(dir, 'wide.png');
    const img = ramp(1, 4, 8);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 8; x++) img.data[y * 8 + x] = x < 4 ? 0 : 1;
    await writeImage(file, img);
    const cover = await readImage(file, { channels: 1, size: { width: 4, height: 4 }, fit: 'cover' });
    expect([cover.height, cover.width]).toEqual([4, 4]);
    expect(cover.data[0]).toBeLessThan(0.1);
    expect(cover.data[3]).toBeGreaterThan(0.9);
    const fill = await readImage(file, { channels: 1, size: { width: 2, height: 2 }, fit: 'fill' });
    expect([fill.height, fill.width]).toEqual([2, 2]);
    await expect(readImage(file, { channels: 1, size: { width: 4, height: 4 } })).rejects.toThrow(`${file}: is 8×4, 4×4 needed`);
  });

  it('writes a grid file', async () => {
    const file = join(dir, 'nested', 'grid.png');
    const batch: Images = { n: 4, channels: 3, height: 8, width: 8, data: new Float32Array(4 * 3 * 8 * 8).fill(0.5) };
    await expect(encodePng(batch)).rejects.toThrow('encodePng: got 4 images, one PNG holds one — tile them into one with imageGrid');
    await writeImage(file, imageGrid([batch], { cols: 4 }));
    const back = await readImage(file, { channels: 3 });
    expect([back.n, back.height, back.width]).toEqual([1, 8 + 4, 4 * 10 + 2]);
  });

  it('says in one line which file is unreadable and what to do', async () => {
    const missing = join(dir, 'missing.png');
    await expect(readImage(missing, { channels: 3 })).rejects.toThrow(`${missing}: no such file or folder — check the path`);
    const junk = join(dir, 'junk.png');
    writeFileSync(junk, 'this is not an image');
    const err = await readImage(junk, { channels: 3 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    console.log(`unreadable file error: ${msg}`);
    expect(msg.startsWith(`${junk}: not a readable image`)).toBe(true);
    expect(msg).toContain('— give a PNG, JPEG or WebP file');
    expect(msg).not.toContain('\n');
  });
});
