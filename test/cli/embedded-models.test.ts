// The embedded models as a newcomer meets them: `unmask models` lists them (with the classes of the
// class-conditional one), and `unmask sample` with no
// model flag uses the colour emoji model and writes a grid of 32-px RGB images.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { DEFAULT_MODEL, listModels } from '../../src/inference/model-dir.ts';

const dir = mkdtempSync(join(tmpdir(), 'unmask-embedded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('embedded models', () => {
  it('lists emoji (the default), fashion and fashion-classes', async () => {
    expect(DEFAULT_MODEL).toBe('emoji');
    expect(listModels().map((m) => m.name)).toEqual(['emoji', 'fashion', 'fashion-classes']);
    const r = await cli('models');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^emoji \(default\) {2}Data: emoji32-train .*\n {2}classes \(--class\): Smileys & Emotion, People & Body, .*, Flags; or any, none\nfashion {2}Data: fashion32-train .*\nfashion-classes {2}Data: fashion32-train .*\n {2}classes \(--class\): T-shirt\/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot; or any, none\n$/);
  });

  it('unmask sample with no model flag draws colour emoji', async () => {
    const out = join(dir, 'samples.png');
    const r = await cli('sample', '--n', '4', '--steps', '8', '--out', out);
    expect(r.code).toBe(0);
    // the model's recommended order (confidence, models/emoji/config.json) for the flag not given
    expect(r.err).toMatch(/wrote .*samples\.png: 4 image\(s\), 8 steps \(confidence, the model's recommended sampling for unset flags\)/);
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([4 * 34 + 2, 34 + 2, 3]); // 4 images of 32 px, 2 px gaps
    // Colour, not grey: some pixel's channels differ clearly.
    let chroma = 0;
    for (let i = 0; i < data.length; i += 3) chroma = Math.max(chroma, Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]));
    expect(chroma).toBeGreaterThan(64);
  });
});
