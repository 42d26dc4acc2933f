// Image folders as data sets, and the one-line errors for bad data (each names the file and the fix).
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadFolder } from '../../src/data/folder.ts';
import { writeImage } from '../../src/data/png.ts';
import { parseVqganConfig } from '../../src/models/vqgan-config.ts';
import { runVqganTraining } from '../../src/training/run-vqgan.ts';

const root = mkdtempSync(join(tmpdir(), 'unmask-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function folder(name: string): string {
  const d = join(root, name);
  mkdirSync(d, { recursive: true });
  return d;
}

async function png(file: string, w: number, h: number, channels: 1 | 3 = 3) {
  const data = new Float32Array(channels * w * h).map((_, i) => (i % 7) / 7);
  await writeImage(file, { n: 1, channels, width: w, height: h, data });
}

describe('image folders', () => {
  it('loads, crops to size and splits every 10th image into validation', async () => {
    const d = folder('good');
    for (let i = 0; i < 12; i++) await png(join(d, `img-${String(i).padStart(2, '0')}.png`), 40 + i, 36, i % 2 ? 1 : 3);
    writeFileSync(join(d, 'notes.txt'), 'ignored');
    const { train, val } = await loadFolder(d, 32, 3);
    expect([train.count, val.count]).toEqual([10, 2]);
    const out = new Float32Array(3 * 32 * 32);
    train.read(9, out, 0);
    expect(out.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  it('names an empty folder', async () => {
    await expect(loadFolder(folder('empty'), 32, 3)).rejects.toThrow(/empty: found 0 .*need at least 2/);
  });

  it('names an unreadable file', async () => {
    const d = folder('broken');
    await png(join(d, 'a.png'), 32, 32);
    writeFileSync(join(d, 'b.png'), 'not a png at all');
    await expect(loadFolder(d, 32, 3)).rejects.toThrow(/b\.png: not a readable image .* — give a PNG, JPEG or WebP file/);
  });

  it('names an image smaller than the model', async () => {
    const d = folder('small');
    await png(join(d, 'a.png'), 32, 32);
    await png(join(d, 'tiny.png'), 16, 40);
    await expect(loadFolder(d, 32, 3)).rejects.toThrow(/tiny\.png: is 16×40, smaller than the model's 32×32/);
  });

  it('refuses a path that is not a folder', async () => {
    await expect(loadFolder(join(root, 'nope'), 32, 3)).rejects.toThrow(/not a folder/);
  });

  it('refuses data whose channel count differs from the model', async () => {
    const d = folder('grey');
    for (let i = 0; i < 3; i++) await png(join(d, `g${i}.png`), 16, 16, 1);
    const { train, val } = await loadFolder(d, 16, 1);
    const config = parseVqganConfig({ channels: 3, imageSize: 16, nf: 32, chMult: [1, 1], codebookSize: 8, embDim: 4, discLayers: 2 });
    await expect(
      runVqganTraining({ out: join(root, 'run'), config, train, val, steps: 1, seed: 0, resume: false, checkpointEvery: 1, flip: false, valImages: 1, command: '', dataCredit: '' }),
    ).rejects.toThrow(/1 channel\(s\) but the model takes 16×16 with 3/);
  });
});
