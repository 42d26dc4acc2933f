// Between the library's images (CHW floats in [0, 1], one or three channels) and the page's canvases:
// drawing, reading back, fitting any picture to the model's size (and saying how), and PNG files.
import { fitGeometry, shadeName } from '../../data/fit-geometry.ts';
import type { ImagePreparation } from '../../data/image-set.ts';
import { type Images, imageAt, upscale } from '../../data/images.ts';

/** Image `index` of `images` as canvas pixels (grey models fill R, G and B alike). */
export function toImageData(images: Images, index = 0): ImageData {
  const { channels, height, width, data } = images;
  const plane = height * width;
  const base = index * channels * plane;
  const out = new ImageData(width, height);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out.data[4 * p + c] = Math.round(255 * data[base + (channels === 1 ? 0 : c) * plane + p]);
    out.data[4 * p + 3] = 255;
  }
  return out;
}

/** Canvas pixels → one image with `channels` channels (grey as ITU-R BT.601 luma). */
export function fromImageData(pixels: ImageData, channels: number): Images {
  const { width, height } = pixels;
  const plane = width * height;
  const data = new Float32Array(channels * plane);
  for (let p = 0; p < plane; p++) {
    const [r, g, b] = [pixels.data[4 * p], pixels.data[4 * p + 1], pixels.data[4 * p + 2]];
    if (channels === 1) data[p] = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
    else for (let c = 0; c < 3; c++) data[c * plane + p] = [r, g, b][c] / 255;
  }
  return { n: 1, channels, height, width, data };
}

/** How a picture that isn't the model's size becomes one: crop to fill, pad to fit, or stretch. */
export type Fit = 'crop' | 'pad' | 'stretch';

export const FIT_NAMES: Record<Fit, string> = {
  crop: 'crop to fill',
  pad: 'fit inside (padded)',
  stretch: 'stretch',
};

/** The fit that matches how a model's training images were prepared (recorded in the model). */
export const FIT_OF: Record<ImagePreparation['fit'], Fit> = { cover: 'crop', contain: 'pad', fill: 'stretch' };
const PREPARATION_FIT: Record<Fit, ImagePreparation['fit']> = { crop: 'cover', pad: 'contain', stretch: 'fill' };

type Picture = CanvasImageSource & { width: number; height: number };

/**
 * Any picture as an image of the model's `size`, prepared as its training images were: fitted by `fit`
 * into the recorded content square, with the recorded border and background (Fashion-MNIST's 28×28
 * padded with black to 32, emoji on white; transparent parts take the background), and a sentence
 * saying what was done to it.
 */
export function fitImage(source: Picture, size: number, channels: number, fit: Fit, prep: ImagePreparation): { image: Images; note: string } {
  const c = document.createElement('canvas');
  c.width = c.height = size;
  const g = c.getContext('2d', { willReadFrequently: true })!;
  const grey = Math.round(255 * prep.background);
  g.fillStyle = `rgb(${grey}, ${grey}, ${grey})`;
  g.fillRect(0, 0, size, size);
  const { width: sw, height: sh } = source;
  // The CLI's geometry (src/data/fit-geometry.ts), with the fit the user chose.
  const { map, content, border } = fitGeometry(sw, sh, size, { ...prep, fit: PREPARATION_FIT[fit] });
  g.save();
  g.beginPath();
  g.rect(border, border, content, content);
  g.clip();
  g.imageSmoothingQuality = 'high';
  g.drawImage(source, map.bx, map.by, sw * map.ax, sh * map.ay);
  g.restore();
  const edge = border ? `, with a ${border}-px border of ${shadeName(prep.background)}` : '';
  return { image: fromImageData(g.getImageData(0, 0, size, size), channels), note: fitNote(sw, sh, content, fit, shadeName(prep.background)) + edge };
}

function fitNote(sw: number, sh: number, size: number, fit: Fit, background: string): string {
  if (sw === size && sh === size) return `${sw}×${sh}, used as it is`;
  if (fit === 'stretch' && sw !== sh) return `${sw}×${sh}, stretched to ${size}×${size}`;
  const square = fit === 'crop' ? Math.min(sw, sh) : Math.max(sw, sh);
  const steps: string[] = [];
  if (sw !== sh) steps.push(fit === 'crop' ? `cropped to the centre ${square}×${square}` : `padded with ${background} to ${square}×${square}`);
  if (square !== size) steps.push(`scaled ${square > size ? 'down' : 'up'} to ${size}×${size}`);
  return `${sw}×${sh}, ${steps.join(', then ')}`;
}

/** A canvas holding image `index` of `images`, enlarged k times (nearest neighbour, as `unmask … --scale k`). */
export function canvasOf(images: Images, index: number, k = 1): HTMLCanvasElement {
  const c = document.createElement('canvas');
  drawImage(c, upscale(imageAt(images, index), k));
  return c;
}

/** Image `index` of `images` into `canvas`, resized to the image. */
export function drawImage(canvas: HTMLCanvasElement, images: Images, index = 0): void {
  canvas.width = images.width;
  canvas.height = images.height;
  canvas.getContext('2d')!.putImageData(toImageData(images, index), 0, 0);
}

/** One image out of a batch, as its own copy. */
export function pick(images: Images, index: number): Images {
  const one = imageAt(images, index);
  return { ...one, data: one.data.slice() };
}

export function pngOf(canvas: HTMLCanvasElement): Promise<Blob> {
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the browser could not encode the PNG'))), 'image/png'));
}
