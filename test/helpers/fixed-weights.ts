// Fixed model weights by formula, the same float32 values reference/objective_common.py gives the PyTorch
// model (parameter names equal its state-dict keys), so objective fixtures need not store the weights.
// Value i of tensor `name` is (2u − 1)·bound with u = lowbias32(fnv1a32(name) + i·0x9E3779B9) / 2³²;
// see the Python file for the bounds. The fixtures carry each tensor's sum, which checkFixedWeights compares.
import { expect } from 'vitest';
import type { Graph, Shape } from '../../src/engine/graph.ts';
import { ParamStore } from '../../src/engine/params.ts';

function fnv1a32(name: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(name)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

function uniform(h: number, i: number): number {
  let x = (h + Math.imul(i, 0x9e3779b9)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return (x >>> 0) / 2 ** 32;
}

export function fixedTensor(name: string, shape: Shape): Float32Array {
  const n = shape.reduce((a, d) => a * d, 1);
  if (name.endsWith('running_mean')) return new Float32Array(n);
  if (name.endsWith('running_var')) return new Float32Array(n).fill(1);
  const last = name.slice(name.lastIndexOf('.') + 1);
  const h = fnv1a32(name);
  const value = (s: number): number => {
    if (shape.length === 1 && last === 'weight') return 1 + 0.2 * s;
    if (shape.length === 1 && last === 'bias') return 0.2 * s;
    if (last === 'pos_emb' || last === 'start_tok') return 0.1 * s;
    return s * (1 / Math.sqrt(shape.slice(1).reduce((a, d) => a * d, 1)));
  };
  return Float32Array.from({ length: n }, (_, i) => value(2 * uniform(h, i) - 1));
}

/** Fixed values for every parameter (and buffer) the graph declares. */
export function fixedWeights(graph: Graph): ParamStore {
  const store = new ParamStore();
  for (const p of graph.params.values()) store.set(p.name, p.shape, fixedTensor(p.name, p.shape));
  return store;
}

/** The fixture's per-tensor sums (from PyTorch's copy) against ours: both sides hold the same weights. */
export function checkFixedWeights(params: ParamStore, sums: Record<string, number>): void {
  for (const [name, sum] of Object.entries(sums)) {
    const ours = params.get(name).data.reduce((a, v) => a + v, 0);
    expect(Math.abs(ours - sum), `Σ ${name}: ours ${ours}, fixture ${sum}`).toBeLessThan(1e-9 * (1 + Math.abs(sum)));
  }
}
