// A user's image prepared exactly as the model's training images were (the preparation recorded in
// the model: cover-crop, contain-and-pad or stretch, then a border), with the map from the image's
// own pixels to the model's, so boxes and masks given on the input land where the user drew them.
// A Fashion-MNIST PNG (28×28) is padded to 32×32 as in training, not scaled up: that alone is the
// difference between ~17 dB and ~24.5 dB reconstructions.
import sharp, { type Metadata } from 'sharp';
import { UnmaskError, firstLine } from '../errors.ts';
import { checkInputFile } from '../engine/fs-errors.ts';
import { pixelLimit } from '../engine/limits.ts';
import { type PixelMap, fitGeometry } from './fit-geometry.ts';
import type { ImagePreparation } from './image-set.ts';
import type { Images } from './images.ts';
import { hwcToChw } from './png.ts';

export type { PixelMap };

export interface Fitted {
  /** The image at the model's size and channel count. */
  image: Images;
  file: string;
  /** The input's own size (after EXIF orientation). */
  source: { width: number; height: number };
  map: PixelMap;
  /** How the input was fitted, in words, for the command's output. */
  how: string;
}

export interface FitOptions {
  channels: 1 | 3;
  /** The model's image side. */
  size: number;
  preparation: ImagePreparation;
}

/** How to fit inputs for a tokenizer of this config (its channels, image size and recorded preparation). */
export function fitFor(c: { channels: number; imageSize: number; input: ImagePreparation }): FitOptions {
  return { channels: c.channels as 1 | 3, size: c.imageSize, preparation: c.input };
}

/** Width and height after EXIF orientation, from the header alone; refuses images past the pixel limit. */
export async function imageSize(file: string, what = 'an image'): Promise<{ width: number; height: number }> {
  checkInputFile(file, what);
  let meta: Metadata;
  try {
    meta = await sharp(file, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new UnmaskError(`${file}: not a readable image (${firstLine(e)})`, 'give a PNG, JPEG or WebP file', { cause: e });
  }
  if (!meta.width || !meta.height) throw new UnmaskError(`${file}: the image has no size`, 'give a PNG, JPEG or WebP file');
  const swap = (meta.orientation ?? 1) >= 5;
  const size = swap ? { width: meta.height, height: meta.width } : { width: meta.width, height: meta.height };
  const limit = pixelLimit();
  if (size.width * size.height > limit.value) {
    throw new UnmaskError(
      `${file} is ${size.width}×${size.height} (${megapixels(size.width * size.height)} megapixels), more than the ${megapixels(limit.value)} megapixels an input may have (${limit.source})`,
      'scale it down first, or raise the limit with UNMASK_MAX_PIXELS',
    );
  }
  return size;
}

const megapixels = (pixels: number) => Number((pixels / 1e6).toPrecision(3));

/** Decodes `file` through the preparation's resize and border, as `channels` planes. */
async function decodeFitted(file: string, w: number, h: number, o: FitOptions, g: ReturnType<typeof fitGeometry>, background: number): Promise<Uint8Array> {
  const v = Math.round(background * 255);
  const colour = { r: v, g: v, b: v, alpha: 1 };
  let pipeline = sharp(file, { limitInputPixels: false, sequentialRead: true }).autoOrient().flatten({ background: '#ffffff' });
  if (w !== g.content || h !== g.content) pipeline = pipeline.resize(g.content, g.content, { fit: o.preparation.fit, position: 'centre', kernel: 'lanczos3', background: colour });
  if (g.border) pipeline = pipeline.extend({ top: g.border, bottom: g.border, left: g.border, right: g.border, background: colour });
  pipeline = pipeline.toColourspace(o.channels === 1 ? 'b-w' : 'srgb').removeAlpha();
  try {
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.width !== o.size || info.height !== o.size || info.channels !== o.channels) {
      throw new UnmaskError(`${file}: decoded to ${info.width}×${info.height}×${info.channels}, ${o.size}×${o.size}×${o.channels} wanted`, 'save it as plain RGB or greyscale PNG');
    }
    return data;
  } catch (e) {
    if (e instanceof UnmaskError) throw e;
    throw new UnmaskError(`${file}: not a readable image (${firstLine(e)})`, 'give a PNG, JPEG or WebP file', { cause: e });
  }
}

/**
 * Reads `file` prepared as the model's training images were. An image already at the model's size is
 * taken as it is (it is in the model's frame: a sample, or an image prepared before).
 */
export async function readFitted(file: string, o: FitOptions): Promise<Fitted> {
  const { width, height } = await imageSize(file);
  const same = width === o.size && height === o.size;
  const g = same ? { map: { ax: 1, bx: 0, ay: 1, by: 0 }, content: o.size, border: 0, how: '' } : fitGeometry(width, height, o.size, o.preparation);
  const bytes = await decodeFitted(file, width, height, o, g, o.preparation.background);
  const how = same ? `${file} is ${o.size}×${o.size}, the model's size: used as it is` : `${file} (${width}×${height}) fitted to the model's ${o.size}×${o.size} as its training images were: ${g.how}`;
  return { image: { n: 1, channels: o.channels, height: o.size, width: o.size, data: hwcToChw(bytes, o.channels, o.size, o.size) }, file, source: { width, height }, map: g.map, how };
}

/**
 * A mask drawn on the input image (white = selected), fitted with it into the model's pixels: the
 * same resize, and the border unselected. It must have the input image's size.
 */
export async function readFittedMask(file: string, fitted: Fitted, o: FitOptions): Promise<Float32Array> {
  const { width, height } = await imageSize(file, 'a mask image');
  if (width !== fitted.source.width || height !== fitted.source.height) {
    throw new UnmaskError(`${file}: the mask is ${width}×${height} but the image ${fitted.file} is ${fitted.source.width}×${fitted.source.height}`, "draw the mask at the image's size");
  }
  const same = width === o.size && height === o.size;
  const g = same ? { map: fitted.map, content: o.size, border: 0, how: '' } : fitGeometry(width, height, o.size, o.preparation);
  const bytes = await decodeFitted(file, width, height, { ...o, channels: 1 }, g, 0);
  return Float32Array.from(bytes, (b) => b / 255);
}

export interface PixelBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** A box on the input image → the smallest box of model pixels covering it, clipped to the model's frame. */
export function mapBox(box: PixelBox, fitted: Fitted, size: number, flag: string): PixelBox {
  const { width, height } = fitted.source;
  if (box.x + box.w > width || box.y + box.h > height) {
    throw new UnmaskError(`${flag} ${box.x},${box.y},${box.w},${box.h} is not inside the ${width}×${height} image ${fitted.file}`, `give a box within it (x + w ≤ ${width}, y + h ≤ ${height})`);
  }
  const m = fitted.map;
  const clip = (v: number) => Math.min(size, Math.max(0, v));
  const x0 = clip(Math.floor(m.ax * box.x + m.bx + 1e-9));
  const y0 = clip(Math.floor(m.ay * box.y + m.by + 1e-9));
  const x1 = clip(Math.ceil(m.ax * (box.x + box.w) + m.bx - 1e-9));
  const y1 = clip(Math.ceil(m.ay * (box.y + box.h) + m.by - 1e-9));
  if (x1 <= x0 || y1 <= y0) {
    throw new UnmaskError(`${flag} ${box.x},${box.y},${box.w},${box.h} falls in the part of ${fitted.file} cropped away when it was fitted to the model`, 'choose a box nearer the centre of the image');
  }
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}
