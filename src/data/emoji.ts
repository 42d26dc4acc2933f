// Emoji images from emoji-datasource-twitter (CC-BY 4.0) and emoji-datasource-google (Apache-2.0):
// every 64×64 PNG (skin-tone variants included), composited on white, resized to 32 or 64 px, labelled
// with the emoji's category. Decoded once and cached as a raw file, since decoding 7,500 PNGs takes seconds.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../engine/files.ts';
import { UnmaskError } from '../errors.ts';
import type { ImageSet } from './image-set.ts';

const require = createRequire(import.meta.url);

export const EMOJI_SOURCES = ['twitter', 'google'] as const;

interface EmojiEntry {
  image: string;
  category: string;
  sort_order: number;
  skin_variations?: Record<string, { image: string }>;
  [k: string]: unknown;
}

export interface EmojiImage {
  source: (typeof EMOJI_SOURCES)[number];
  file: string;
  category: string;
}

/** The folder of an emoji package; they are optional dependencies, so say how to install them. */
function packageDir(source: (typeof EMOJI_SOURCES)[number]): string {
  try {
    return dirname(require.resolve(`emoji-datasource-${source}/package.json`));
  } catch (e) {
    const all = EMOJI_SOURCES.map((s) => `emoji-datasource-${s}`).join(' ');
    throw new UnmaskError(`the emoji data set comes from the ${all} packages, which are not installed`, `npm install ${all}`, { cause: e });
  }
}

/** All emoji images available in both packages, in a fixed order (source, then sort order, then variant). */
export function listEmoji(): EmojiImage[] {
  const out: EmojiImage[] = [];
  for (const source of EMOJI_SOURCES) {
    const pkg = packageDir(source);
    const entries: EmojiEntry[] = JSON.parse(readFileSync(join(pkg, 'emoji.json'), 'utf8'));
    entries.sort((a, b) => a.sort_order - b.sort_order);
    const dir = join(pkg, 'img', source, '64');
    for (const e of entries) {
      const images = [e.image, ...Object.values(e.skin_variations ?? {}).map((v) => v.image)];
      for (const image of images) {
        if (e[`has_img_${source}`] === false) continue;
        const file = join(dir, image);
        if (existsSync(file)) out.push({ source, file, category: e.category });
      }
    }
  }
  return out;
}

export const EMOJI_CATEGORIES: readonly string[] = [
  'Smileys & Emotion',
  'People & Body',
  'Component',
  'Animals & Nature',
  'Food & Drink',
  'Travel & Places',
  'Activities',
  'Objects',
  'Symbols',
  'Flags',
];

/** Decodes one emoji PNG onto white at `size`×`size`, CHW floats in [0, 1]. */
async function decode(file: string, size: number): Promise<Float32Array> {
  const { data } = await sharp(file)
    .flatten({ background: '#ffffff' })
    .resize(size, size, { fit: 'fill', kernel: 'lanczos3' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const px = size * size;
  const out = new Float32Array(3 * px);
  for (let i = 0; i < px; i++) for (let ch = 0; ch < 3; ch++) out[ch * px + i] = data[i * 3 + ch] / 255;
  return out;
}

export interface EmojiData {
  train: ImageSet;
  val: ImageSet;
}

/** Every 10th image (in the fixed order) is validation. */
export const EMOJI_VAL_EVERY = 10;

/** Loads (and caches under `cacheDir`) all emoji at `size` px, split into fixed train and validation sets. */
export async function loadEmoji(size: 32 | 64, cacheDir = join(process.cwd(), '.cache')): Promise<EmojiData> {
  const list = listEmoji();
  const per = 3 * size * size;
  const cache = join(cacheDir, `emoji-${size}-${list.length}.f32`);
  let pixels: Float32Array;
  if (existsSync(cache)) {
    const buf = readFileSync(cache);
    pixels = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  } else {
    pixels = new Float32Array(list.length * per);
    const batch = 64;
    for (let i = 0; i < list.length; i += batch) {
      const imgs = await Promise.all(list.slice(i, i + batch).map((e) => decode(e.file, size)));
      imgs.forEach((img, j) => pixels.set(img, (i + j) * per));
    }
    writeFileAtomic(cache, new Uint8Array(pixels.buffer));
  }
  const labels = list.map((e) => EMOJI_CATEGORIES.indexOf(e.category));
  const split = (val: boolean): ImageSet => {
    const idx = list.map((_, i) => i).filter((i) => (i % EMOJI_VAL_EVERY === 0) === val);
    return {
      name: `emoji${size}-${val ? 'val' : 'train'}`,
      channels: 3,
      size,
      count: idx.length,
      read: (i, out, offset) => out.set(pixels.subarray(idx[i] * per, (idx[i] + 1) * per), offset),
      label: (i) => labels[idx[i]],
      classes: EMOJI_CATEGORIES,
      preparation: { fit: 'fill', background: 1 },
    };
  };
  return { train: split(false), val: split(true) };
}
