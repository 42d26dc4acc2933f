// The one image type unmask passes around, on the host: a batch of CHW float images in [0, 1]. One
// image is a batch of one. Pure functions on it (views, grids, enlarging) live here and work in
// browsers too; files in and out are png.ts.
import { UnmaskError } from '../errors.ts';

/** `n` images of `channels` planes of height × width floats in [0, 1]: [n, channels, height, width], row-major. */
export interface Images {
  n: number;
  channels: number;
  height: number;
  width: number;
  data: Float32Array;
}

/** Image `i` of a batch, as a batch of one (a view, no copy). */
export function imageAt(images: Images, i: number): Images {
  const { n, channels, height, width } = images;
  if (!(Number.isInteger(i) && i >= 0 && i < n)) throw new UnmaskError(`no image ${i} in a batch of ${n}`, `ask for an image from 0 to ${n - 1}`);
  const per = channels * height * width;
  return { n: 1, channels, height, width, data: images.data.subarray(i * per, (i + 1) * per) };
}

export interface GridOptions {
  /** Images per row; default ⌈√n⌉. */
  cols?: number;
  /** Pixels between images and around the edge; default 2. */
  pad?: number;
  /** Value of the padding, in [0, 1]; default 1 (white). */
  background?: number;
}

/** Tiles every image of `batches`, in order, into rows × cols (row-major) with padding: one image. */
export function imageGrid(batches: Images[], opts: GridOptions = {}): Images {
  const images = batches.flatMap((b) => Array.from({ length: b.n }, (_, i) => imageAt(b, i)));
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
  return { n: 1, channels, height, width, data };
}

/** Enlarges every image k times with nearest-neighbour sampling (crisp pixels for small images). */
export function upscale(images: Images, k: number): Images {
  if (!Number.isInteger(k) || k < 1) throw new UnmaskError(`upscale: factor must be a whole number ≥ 1, got ${k}`, 'pass a --scale of 1 or more');
  if (k === 1) return images;
  const { n, channels } = images;
  const width = images.width * k, height = images.height * k;
  const data = new Float32Array(n * channels * width * height);
  for (let p = 0; p < n * channels; p++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) data[(p * height + y) * width + x] = images.data[(p * images.height + Math.floor(y / k)) * images.width + Math.floor(x / k)];
  return { n, channels, height, width, data };
}

/**
 * Image `i` as 8-bit RGBA pixels, row-major (greyscale repeated into R, G and B; alpha opaque): what a
 * canvas's ImageData holds, e.g. `new ImageData(p.data, p.width, p.height)`.
 */
export function rgba(images: Images, i = 0): { width: number; height: number; data: Uint8ClampedArray } {
  const { channels, height, width, data } = imageAt(images, i);
  const plane = height * width;
  const out = new Uint8ClampedArray(4 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[4 * p + c] = Math.round(255 * data[(channels === 1 ? 0 : c) * plane + p]);
    out[4 * p + 3] = 255;
  }
  return { width, height, data: out };
}
