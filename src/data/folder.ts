// Any folder of PNG/JPEG/WebP images as a data set: each image scaled so its shorter side fits, then
// centre-cropped to size×size (transparency on white); every 10th file (sorted by name) is validation.
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { checkMemory } from '../engine/limits.ts';
import { UnmaskError } from '../errors.ts';
import type { ImagePreparation, ImageSet } from './image-set.ts';
import { imageSize, readFitted } from './prepare.ts';

const IMAGE = new Set(['.png', '.jpg', '.jpeg', '.webp']);
export const FOLDER_VAL_EVERY = 10;
/** Each image scaled so its shorter side fits, centre-cropped, on white. */
const FOLDER_PREPARATION: ImagePreparation = { fit: 'cover', background: 1 };

export async function loadFolder(dir: string, size: number, channels: 1 | 3): Promise<{ train: ImageSet; val: ImageSet }> {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error();
    names = readdirSync(dir).filter((f) => IMAGE.has(extname(f).toLowerCase())).sort();
  } catch {
    throw new UnmaskError(`${dir}: not a folder`, 'give fashion, emoji, emoji64 or a folder of PNG/JPEG images');
  }
  if (names.length < 2) throw new UnmaskError(`${dir}: found ${names.length} PNG/JPEG/WebP image(s), need at least 2`, 'add images to the folder');
  const per = channels * size * size;
  checkMemory(names.length * per * 4, `${dir}: ${names.length} images at ${size}×${size}`, 'use fewer images or a smaller image size');
  const pixels = new Float32Array(names.length * per);
  for (let i = 0; i < names.length; i++) {
    const file = join(dir, names[i]);
    // The header alone gives the size (and refuses non-files and images past the pixel limit); the
    // decode then streams through the resize, so a huge image never sits in memory whole.
    const { width, height } = await imageSize(file);
    if (width < size || height < size) {
      throw new UnmaskError(`${file}: is ${width}×${height}, smaller than the model's ${size}×${size}`, 'remove it or use larger images');
    }
    pixels.set((await readFitted(file, { channels, size, preparation: FOLDER_PREPARATION })).image.data, i * per);
  }
  const split = (val: boolean): ImageSet => {
    const idx = names.map((_, i) => i).filter((i) => (i % FOLDER_VAL_EVERY === 0) === val);
    return {
      name: `${dir.replace(/[^A-Za-z0-9]+/g, '_')}-${size}-${val ? 'val' : 'train'}`,
      channels,
      size,
      count: idx.length,
      read: (i, out, offset) => out.set(pixels.subarray(idx[i] * per, (idx[i] + 1) * per), offset),
      preparation: FOLDER_PREPARATION,
    };
  };
  return { train: split(false), val: split(true) };
}
