// The creative tasks on a tiny (untrained) model saved and loaded like a real one: given tokens never
// change, pixel masks map to token masks, sizes are checked with clear messages.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePriorConfig } from '../../src/models/prior-config.ts';
import { parseVqganConfig } from '../../src/models/vqgan-config.ts';
import type { Images } from '../../src/data/images.ts';
import { boxMask, complete, decodeGrid, decodePartial, extend, generate, inpaint, stitch, tokenMaskFromPixelMask } from '../../src/inference/tasks.ts';
import { loadModel } from '../../src/inference/model-dir.ts';
import type { UnmaskModel } from '../../src/inference/model.ts';
import { initPriorState, savePriorCheckpoint } from '../../src/training/train-prior.ts';
import { initVqganState } from '../../src/training/train-vqgan.ts';

const vq = parseVqganConfig({ channels: 1, imageSize: 16, nf: 32, chMult: [1, 1], resBlocks: 1, attnResolutions: [], codebookSize: 16, embDim: 8, ndf: 8, discLayers: 1 });
const prior = parsePriorConfig({ codebookSize: 16, latent: 8, dim: 16, layers: 1, heads: 2, batch: 2 });
const dir = mkdtempSync(join(tmpdir(), 'unmask-edit-'));
let model: UnmaskModel;

beforeAll(() => {
  const tok = initVqganState(vq, 1);
  savePriorCheckpoint(join(dir, 'model'), prior, vq, tok.ema, initPriorState(prior, 2));
  model = loadModel(join(dir, 'model'));
});
afterAll(async () => {
  await model.release();
  rmSync(dir, { recursive: true, force: true });
});

function image(seed: number): Images {
  const data = new Float32Array(256).map((_, i) => 0.5 + 0.5 * Math.sin(i * 0.37 + seed));
  return { n: 1, channels: 1, height: 16, width: 16, data };
}

const opts = { steps: 4, n: 2, seed: 1 };

describe('tasks', () => {
  it('shows a grid part-way through sampling: masked patches mid-grey, a complete grid as decoded', async () => {
    const k = prior.codebookSize;
    const full = Int32Array.from({ length: 64 }, (_, i) => (i * 7) % k);
    const partial = full.map((v, i) => (i % 3 === 0 ? k : v));
    const im = await decodePartial(model, partial, 1, 8, 8);
    for (let i = 0; i < 64; i += 3) {
      const ty = Math.floor(i / 8), tx = i % 8;
      for (let y = 2 * ty; y < 2 * ty + 2; y++) for (let x = 2 * tx; x < 2 * tx + 2; x++) expect(im.data[y * 16 + x]).toBe(0.5);
    }
    expect((await decodePartial(model, full, 1, 8, 8)).data).toEqual((await decodeGrid(model, full, 1, 8, 8)).data);
  });

  it('maps pixel masks to token masks (any masked pixel regenerates its token), edges included', () => {
    const m = new Float32Array(16 * 16);
    m[0] = 1; // top-left pixel → token 0
    m[15 * 16 + 15] = 1; // bottom-right pixel → token 63
    m[3 * 16 + 2] = 1; // pixel (2,3) → token (1,1) = 9
    const t = tokenMaskFromPixelMask(m, 16, 16, 2);
    expect([...t.keys()].filter((i) => t[i])).toEqual([0, 9, 63]);
    expect(() => tokenMaskFromPixelMask(new Float32Array(15 * 16), 15, 16, 2)).toThrow(/multiple/);
  });

  it('generates images of the model size', async () => {
    const r = await generate(model, opts);
    expect(r.images).toMatchObject({ n: 2, channels: 1, height: 16, width: 16 });
    expect(r.tokens.every((v) => v >= 0 && v < 16)).toBe(true);
  });

  it('inpaints only inside the mask and keeps every other token', async () => {
    const img = image(0);
    const r = await inpaint(model, img, boxMask({ x: 4, y: 4, w: 6, h: 6 }, 16, 16), opts);
    const codes = Array.from(await model.tokenizer.encode(img.data, 1));
    const regen = tokenMaskFromPixelMask(boxMask({ x: 4, y: 4, w: 6, h: 6 }, 16, 16), 16, 16, 2);
    for (let b = 0; b < 2; b++) for (let i = 0; i < 64; i++) if (!regen[i]) expect(r.tokens[b * 64 + i]).toBe(codes[i]);
    expect(Array.from(r.known)).toEqual(Array.from(regen, (v) => 1 - v));
  });

  it('completes from a kept half and stitches two images around a seam', async () => {
    const c = await complete(model, image(1), 'left', opts);
    expect(c.known.filter(Boolean).length).toBe(32);
    const s = await stitch(model, image(1), image(2), 2, opts);
    const a = Array.from(await model.tokenizer.encode(image(1).data, 1));
    const b = Array.from(await model.tokenizer.encode(image(2).data, 1));
    for (let y = 0; y < 8; y++) {
      for (const x of [0, 1, 2]) expect(s.tokens[y * 8 + x]).toBe(a[y * 8 + x]);
      for (const x of [5, 6, 7]) expect(s.tokens[y * 8 + x]).toBe(b[y * 8 + x]);
      for (const x of [3, 4]) expect(s.known[y * 8 + x]).toBe(0);
    }
  });

  it('extends to a larger canvas and outpaints around a given image', async () => {
    const r = await extend(model, { ...opts, n: 1, width: 24, height: 16, stride: 2 });
    expect(r.grid).toEqual([8, 12]);
    expect(r.images).toMatchObject({ width: 24, height: 16 });
    const o = await extend(model, { ...opts, n: 1, width: 24, height: 24, image: image(3), at: { x: 8, y: 0 } });
    const codes = Array.from(await model.tokenizer.encode(image(3).data, 1));
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) expect(o.tokens[y * 12 + 4 + x]).toBe(codes[y * 8 + x]);
  });

  it('rejects wrong sizes with one clear line', async () => {
    const small: Images = { n: 1, channels: 1, height: 8, width: 8, data: new Float32Array(64) };
    await expect(inpaint(model, small, new Float32Array(64), opts)).rejects.toThrow(/8×8.*takes 16×16/);
    await expect(inpaint(model, image(0), new Float32Array(10), opts)).rejects.toThrow(/mask has 10 pixels/);
    expect(() => boxMask({ x: 10, y: 0, w: 8, h: 4 }, 16, 16)).toThrow(/not inside the 16×16 image/);
    await expect(extend(model, { ...opts, width: 8, height: 16 })).rejects.toThrow(/at least 16×16/);
    await expect(stitch(model, image(0), image(1), 7, opts)).rejects.toThrow(/seam must be 1..6/);
  });
});
