// Between the library's images (CHW floats in [0, 1], one or three channels) and the page's canvases.
import type { Images } from '../../data/images.ts';

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

/**
 * Any picture (a loaded file, another canvas) as an image of the model's size: scaled to cover the
 * square, centre-cropped, transparent parts on white (as the emoji data set was prepared).
 */
export function fitImage(source: CanvasImageSource & { width: number; height: number }, size: number, channels: number): Images {
  const c = document.createElement('canvas');
  c.width = c.height = size;
  const g = c.getContext('2d', { willReadFrequently: true })!;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, size, size);
  const scale = size / Math.min(source.width, source.height);
  const w = source.width * scale, h = source.height * scale;
  g.imageSmoothingQuality = 'high';
  g.drawImage(source, (size - w) / 2, (size - h) / 2, w, h);
  return fromImageData(g.getImageData(0, 0, size, size), channels);
}

/** Image `index` of `images` into `canvas`, resized to the image. */
export function drawImage(canvas: HTMLCanvasElement, images: Images, index = 0): void {
  canvas.width = images.width;
  canvas.height = images.height;
  canvas.getContext('2d')!.putImageData(toImageData(images, index), 0, 0);
}

/** One image out of a batch. */
export function pick(images: Images, index: number): Images {
  const per = images.channels * images.height * images.width;
  return { ...images, n: 1, data: images.data.slice(index * per, (index + 1) * per) };
}
