// Where an input image lands when it is prepared as a model's training images were (the preparation
// recorded in the model: cover-crop, contain-and-pad or stretch into the content square, then a border).
// Pure arithmetic, shared by the CLI's decoder (sharp, src/data/prepare.ts) and the web app's canvas.
import type { ImagePreparation } from './image-set.ts';

/** x' = ax·x + bx, y' = ay·y + by: the input's pixel coordinates → the model's. */
export interface PixelMap {
  ax: number;
  bx: number;
  ay: number;
  by: number;
}

/** A background value in words: black, white, or grey v. */
export function shadeName(v: number): string {
  return v === 0 ? 'black' : v === 1 ? 'white' : `grey ${v}`;
}

/** The geometry of fitting a w×h image into a size×size model image: the resize's map, the content square and border, in words. */
export function fitGeometry(w: number, h: number, size: number, prep: ImagePreparation): { map: PixelMap; content: number; border: number; how: string } {
  const content = prep.content ?? size;
  const border = (size - content) / 2;
  const bg = shadeName(prep.background);
  const edge = border ? `, with a ${border}-px border of ${bg}` : '';
  switch (prep.fit) {
    case 'cover': {
      const s = content / Math.min(w, h);
      const map = { ax: s, bx: border - (w * s - content) / 2, ay: s, by: border - (h * s - content) / 2 };
      return { map, content, border, how: `scaled ×${s.toFixed(3)} and centre-cropped to ${content}×${content}${edge}` };
    }
    case 'contain': {
      const s = content / Math.max(w, h);
      const map = { ax: s, bx: border + (content - w * s) / 2, ay: s, by: border + (content - h * s) / 2 };
      const pad = w === h ? '' : `, padded with ${bg}`;
      const scaled = s === 1 ? `kept at ${w}×${h}` : `scaled ×${s.toFixed(3)} to fit ${content}×${content}`;
      return { map, content, border, how: `${scaled}${pad}${edge}` };
    }
    case 'fill':
      return { map: { ax: content / w, bx: border, ay: content / h, by: border }, content, border, how: `stretched to ${content}×${content}${edge}` };
  }
}
