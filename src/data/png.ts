// Images in and out of files, through sharp (libvips): any PNG/JPEG/WebP becomes an image (images.ts)
// with the channel count the model wants (transparency composited on white, as the emoji data set is),
// and an image (a grid of many, by imageGrid) becomes a PNG, JPEG or WebP file, written atomically.
import sharp, { type OutputInfo } from 'sharp';
import { writeFileAtomic } from '../engine/files.ts';
import { checkInputFile } from '../engine/fs-errors.ts';
import { imageFormatOf } from '../engine/outputs.ts';
import { UnmaskError, firstLine } from '../errors.ts';
import type { Images } from './images.ts';

export interface ReadImageOptions {
  /** 1 (greyscale) or 3 (sRGB). */
  channels: 1 | 3;
  /** Wanted size; without it the image keeps its own. */
  size?: { width: number; height: number };
  /**
   * How to reach `size`: 'exact' (default) refuses any other size; 'cover' scales the shorter side to
   * fit and centre-crops the longer; 'fill' scales each axis independently.
   */
  fit?: 'exact' | 'cover' | 'fill';
}

/** Reads an image file. Errors name the file and say what to do, in one line. */
export async function readImage(file: string, opts: ReadImageOptions): Promise<Images> {
  const { channels, size, fit = 'exact' } = opts;
  checkInputFile(file, 'an image');
  let pipeline = sharp(file).autoOrient().flatten({ background: '#ffffff' });
  if (size && fit !== 'exact') pipeline = pipeline.resize(size.width, size.height, { fit, position: 'centre', kernel: 'lanczos3' });
  pipeline = pipeline.toColourspace(channels === 1 ? 'b-w' : 'srgb').removeAlpha();
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new UnmaskError(`${file}: not a readable image (${firstLine(e)})`, 'give a PNG, JPEG or WebP file', { cause: e });
  }
  const { data, info } = decoded;
  if (size && (info.width !== size.width || info.height !== size.height)) {
    throw new UnmaskError(`${file}: is ${info.width}×${info.height}, ${size.width}×${size.height} needed`, 'resize it, or let unmask scale and crop it');
  }
  if (info.channels !== channels) throw new UnmaskError(`${file}: decoded to ${info.channels} channels, ${channels} wanted`, 'save it as plain RGB or greyscale');
  return { n: 1, channels, height: info.height, width: info.width, data: hwcToChw(data, channels, info.height, info.width) };
}

/**
 * Writes one image (1 channel: greyscale, 3: RGB) in the format its name asks for — .png, .jpg/.jpeg
 * or .webp, so the bytes always match the name — through a temporary file and a rename.
 */
export async function writeImage(file: string, img: Images): Promise<void> {
  writeFileAtomic(file, await encodeImage(img, imageFormatOf(file, 'the file name')));
}

/** PNG bytes of one image (1 channel: greyscale, 3: RGB), for callers that write files themselves. */
export function encodePng(img: Images): Promise<Buffer> {
  return encodeImage(img, 'png');
}

/** Bytes of one image as PNG, JPEG (quality 95) or WebP (lossless). */
export async function encodeImage(img: Images, format: 'png' | 'jpeg' | 'webp'): Promise<Buffer> {
  if (img.n !== 1) throw new UnmaskError(`encodePng: got ${img.n} images, one PNG holds one`, 'tile them into one with imageGrid');
  if (img.channels !== 1 && img.channels !== 3) throw new UnmaskError(`encodePng: can only write 1- or 3-channel images, got ${img.channels}`, 'give greyscale or RGB images');
  if (img.data.length !== img.channels * img.height * img.width) {
    throw new UnmaskError(`encodePng: image data has ${img.data.length} values, ${img.channels}×${img.height}×${img.width} expected`, 'give channels × height × width values');
  }
  const raw = sharp(chwToHwc(img), { raw: { width: img.width, height: img.height, channels: img.channels } });
  return (format === 'png' ? raw.png() : format === 'jpeg' ? raw.jpeg({ quality: 95 }) : raw.webp({ lossless: true })).toBuffer();
}

export function hwcToChw(bytes: Uint8Array, channels: number, height: number, width: number): Float32Array {
  const px = height * width;
  const out = new Float32Array(channels * px);
  for (let i = 0; i < px; i++) for (let c = 0; c < channels; c++) out[c * px + i] = bytes[i * channels + c] / 255;
  return out;
}

/** Floats in [0, 1] (clamped) to interleaved bytes, rounding to nearest. */
function chwToHwc(img: Images): Uint8Array {
  const { channels, height, width, data } = img;
  const px = height * width;
  const out = new Uint8Array(channels * px);
  for (let i = 0; i < px; i++) {
    for (let c = 0; c < channels; c++) {
      const v = data[c * px + i];
      out[i * channels + c] = v > 0 ? (v < 1 ? Math.round(v * 255) : 255) : 0;
    }
  }
  return out;
}
