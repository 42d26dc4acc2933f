// The latents of a dataset: what the prior trains on and its likelihood is measured on.

/** Latents of a dataset: `count` code grids of N tokens each. */
export interface LatentSet {
  count: number;
  tokens: Int32Array;
}
