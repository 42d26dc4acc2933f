// What training and evaluation need from a dataset: fixed-size CHW float images in [0, 1], by index,
// and how they were brought to that size.

/**
 * How a data set's images were brought to size×size, recorded in the model trained on them so that a
 * user's image is prepared the same way (data/prepare.ts). Transparency is always composited on white.
 */
export interface ImagePreparation {
  /** 'cover': scale the shorter side to `content` and centre-crop; 'contain': scale the longer side and pad; 'fill': stretch. */
  fit: 'cover' | 'contain' | 'fill';
  /** Side of the content square (default: the whole size); the rest is an equal border on every side. */
  content?: number;
  /** Value of padding and border, 0 (black) to 1 (white). */
  background: number;
}

export interface ImageSet {
  readonly name: string;
  readonly channels: number;
  readonly size: number;
  readonly count: number;
  /** How the images were fitted to size×size; without it, 'cover' on white (what a folder gets). */
  readonly preparation?: ImagePreparation;
  /** Writes image i (C×size×size floats in [0, 1]) into `out` at `offset`. */
  read(i: number, out: Float32Array, offset: number): void;
  /** Class label of image i, where the dataset has labels. */
  label?(i: number): number;
  /** Names of the labels (label i is classes[i]), where the dataset has labels. */
  readonly classes?: readonly string[];
}

/** Each class's share of a labelled set's images (label i counts towards classes[i]). */
export function classFrequencies(set: ImageSet): number[] {
  if (!set.classes || !set.label) return [];
  const counts = new Array<number>(set.classes.length).fill(0);
  for (let i = 0; i < set.count; i++) counts[set.label(i)]++;
  return counts.map((c) => c / set.count);
}

/** The same images mirrored left–right (same labels); named `<name>-mirrored`. */
export function mirroredSet(set: ImageSet): ImageSet {
  return {
    ...set,
    name: `${set.name}-mirrored`,
    read(i, out, offset) {
      fillBatch(set, [i], out.subarray(offset, offset + set.channels * set.size * set.size), [true]);
    },
  };
}

/** Copies the images at `indices` into one [B, C, H, W] batch, optionally mirrored left–right per `flips`. */
export function fillBatch(set: ImageSet, indices: ArrayLike<number>, out: Float32Array, flips?: ArrayLike<boolean>): void {
  const per = set.channels * set.size * set.size;
  const row = new Float32Array(set.size);
  for (let b = 0; b < indices.length; b++) {
    set.read(indices[b], out, b * per);
    if (!flips?.[b]) continue;
    for (let r = 0; r < set.channels * set.size; r++) {
      const o = b * per + r * set.size;
      row.set(out.subarray(o, o + set.size));
      for (let x = 0; x < set.size; x++) out[o + x] = row[set.size - 1 - x];
    }
  }
}
