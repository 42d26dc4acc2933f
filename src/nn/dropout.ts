// Dropout with its masks fed as graph inputs: the training graph multiplies by inputs named
// `dropout.0`, `dropout.1`, … and the host fills them from the run's Rng each step, so every random
// draw is seeded and a resumed run replays exactly (as DiffAugment's draws are fed to the VQGAN graph).
import * as F from '../engine/api.ts';
import type { Graph, Tensor } from '../engine/graph.ts';
import type { Rng } from '../engine/rng.ts';

/** A function that applies dropout to a tensor by multiplying it with a new mask input of its shape. */
export function dropoutSites(graph: Graph): (x: Tensor) => Tensor {
  let i = 0;
  return (x) => F.mul(x, graph.input(`dropout.${i++}`, x.shape));
}

/**
 * Fills every dropout input of `graph`: each value is 0 with probability p (to 1/256, one byte of a
 * random draw per value) and 1/(1 − p) otherwise (inverted dropout: nothing to rescale at inference).
 */
export function dropoutMasks(graph: Graph, p: number, rng: Rng): Record<string, Float32Array> {
  const threshold = Math.round(p * 256);
  const scale = 1 / (1 - threshold / 256);
  const out: Record<string, Float32Array> = {};
  for (const [name, input] of graph.inputs) {
    if (!name.startsWith('dropout.')) continue;
    const m = new Float32Array(input.shape.reduce((a, d) => a * d, 1));
    for (let i = 0; i < m.length; i += 4) {
      const bits = rng.nextU32();
      for (let j = 0; j < 4 && i + j < m.length; j++) m[i + j] = ((bits >>> (8 * j)) & 255) < threshold ? 0 : scale;
    }
    out[name] = m;
  }
  return out;
}
