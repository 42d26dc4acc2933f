// Images in and out of files, through sharp (libvips): any PNG/JPEG/WebP becomes a CHW Float32Array in
// [0, 1] with the channel count the model wants (transparency composited on white, as the emoji
// data set is), and CHW floats or grids of them become PNGs, written atomically.
import { existsSync } from 'node:fs';
import sharp, { type OutputInfo } from 'sharp';
import { writeFileAtomic } from '../engine/files.ts';
import { UnmaskError, firstLine } from '../errors.ts';

/** An image as the models see it: `channels` planes of height × width floats in [0, 1]. */
export interface Image {
  channels: number;
  height: number;
  width: number;
  /** [channels, height, width], row-major. */
  data: Float32Array;
}

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
export async function readImage(file: string, opts: ReadImageOptions): Promise<Image> {
  const { channels, size, fit = 'exact' } = opts;
  if (!existsSync(file)) throw new UnmaskError(`${file}: no such file`, 'check the path');
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
  return { channels, height: info.height, width: info.width, data: hwcToChw(data, channels, info.height, info.width) };
}

/** Writes one image as a PNG (1 channel: greyscale, 3: RGB), through a temporary file and a rename. */
export async function writeImage(file: string, img: Image): Promise<void> {
  writeFileAtomic(file, await encodePng(img));
}

/** PNG bytes of one image (1 channel: greyscale, 3: RGB), for callers that write files themselves. */
export async function encodePng(img: Image): Promise<Buffer> {
  if (img.channels !== 1 && img.channels !== 3) throw new UnmaskError(`encodePng: can only write 1- or 3-channel images, got ${img.channels}`, 'give greyscale or RGB images');
  if (img.data.length !== img.channels * img.height * img.width) {
    throw new UnmaskError(`encodePng: image data has ${img.data.length} values, ${img.channels}×${img.height}×${img.width} expected`, 'give channels × height × width values');
  }
  return sharp(chwToHwc(img), { raw: { width: img.width, height: img.height, channels: img.channels } })
    .png()
    .toBuffer();
}

/** Views a [B, C, H, W] batch as B images (no copy). */
export function batchImages(data: Float32Array, shape: readonly [number, number, number, number]): Image[] {
  const [b, channels, height, width] = shape;
  const per = channels * height * width;
  if (data.length !== b * per) throw new UnmaskError(`batchImages: ${data.length} values for shape [${shape.join(', ')}]`, 'give as many values as the shape holds');
  return Array.from({ length: b }, (_, i) => ({ channels, height, width, data: data.subarray(i * per, (i + 1) * per) }));
}

export interface GridOptions {
  /** Images per row; default ⌈√n⌉. */
  cols?: number;
  /** Pixels between images and around the edge; default 2. */
  pad?: number;
  /** Value of the padding, in [0, 1]; default 1 (white). */
  background?: number;
}

/** Tiles equally sized images into rows × cols (row-major), with padding. */
export function imageGrid(images: Image[], opts: GridOptions = {}): Image {
  if (images.length === 0) throw new UnmaskError('imageGrid: no images', 'give at least one image');
  const { channels, height: h, width: w } = images[0];
  for (const im of images) {
    if (im.channels !== channels || im.height !== h || im.width !== w) {
      throw new UnmaskError(`imageGrid: images differ in shape (${channels}×${h}×${w} and ${im.channels}×${im.height}×${im.width})`, 'give images of one size and channel count');
    }
  }
  const cols = opts.cols ?? Math.ceil(Math.sqrt(images.length));
  const rows = Math.ceil(images.length / cols);
  const pad = opts.pad ?? 2;
  const height = rows * (h + pad) + pad;
  const width = cols * (w + pad) + pad;
  const data = new Float32Array(channels * height * width).fill(opts.background ?? 1);
  images.forEach((im, i) => {
    const top = pad + Math.floor(i / cols) * (h + pad);
    const left = pad + (i % cols) * (w + pad);
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < h; y++) {
        const src = (c * h + y) * w;
        data.set(im.data.subarray(src, src + w), (c * height + top + y) * width + left);
      }
    }
  });
  return { channels, height, width, data };
}

/** Writes images as one PNG grid. */
export function writeGrid(file: string, images: Image[], opts: GridOptions = {}): Promise<void> {
  return writeImage(file, imageGrid(images, opts));
}

function hwcToChw(bytes: Uint8Array, channels: number, height: number, width: number): Float32Array {
  const px = height * width;
  const out = new Float32Array(channels * px);
  for (let i = 0; i < px; i++) for (let c = 0; c < channels; c++) out[c * px + i] = bytes[i * channels + c] / 255;
  return out;
}

/** Floats in [0, 1] (clamped) to interleaved bytes, rounding to nearest. */
function chwToHwc(img: Image): Uint8Array {
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

/** Enlarges an image k times with nearest-neighbour sampling (crisp pixels for small images). */
export function upscale(img: Image, k: number): Image {
  if (!Number.isInteger(k) || k < 1) throw new UnmaskError(`upscale: factor must be a whole number ≥ 1, got ${k}`, 'pass a --scale of 1 or more');
  if (k === 1) return img;
  const width = img.width * k, height = img.height * k;
  const data = new Float32Array(img.channels * width * height);
  for (let c = 0; c < img.channels; c++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) data[(c * height + y) * width + x] = img.data[(c * img.height + Math.floor(y / k)) * img.width + Math.floor(x / k)];
  return { channels: img.channels, height, width, data };
}
