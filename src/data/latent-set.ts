// The latents of a dataset: what the prior trains on and its likelihood is measured on.

/** Latents of a dataset: `count` code grids of N tokens each, and their class labels where the data has them. */
export interface LatentSet {
  count: number;
  tokens: Int32Array;
  labels?: Int32Array;
}
