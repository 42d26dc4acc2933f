// An op test case: named input values and a function that builds the graph under test from them.
// The same case runs as a float64 gradient check (gradcheck.ts) and as float32 ONNX Runtime parity
// (parity.ts), so every case exercises an op's shape rule, reference evaluation, gradient rule and lowering.
import { type DType, Graph, type Shape, type Tensor, sizeOf } from '../../src/engine/graph.ts';
import { type NDArray, nd } from '../../src/engine/ndarray.ts';
import type { OpName } from '../../src/engine/ops/types.ts';
import type { Rng } from '../../src/engine/rng.ts';

export interface OpCase {
  name: string;
  /** The ops this case tests; each must appear in the graph that `build` makes. */
  ops: OpName[];
  /**
   * Values by input name. Float inputs become float64 graph inputs for the gradient check and float32
   * ones (values rounded) for parity; int64 and bool inputs keep their dtype and get no gradient.
   */
  inputs: Record<string, NDArray>;
  build: (x: Record<string, Tensor>) => Tensor;
  /** Non-differentiable outputs (comparisons, arg-extrema, casts to int): parity only. */
  parityOnly?: boolean;
  /** Finite-difference step, when FD_EPS does not suit the case. */
  eps?: number;
}

export const isFloat = (d: DType) => d === 'float32' || d === 'float64';

/** Declares the case's inputs in `g`, float ones with dtype `float`. */
export function declareInputs(g: Graph, c: OpCase, float: 'float32' | 'float64'): Record<string, Tensor> {
  const xs: Record<string, Tensor> = {};
  for (const [name, v] of Object.entries(c.inputs)) xs[name] = g.input(name, v.shape, isFloat(v.dtype) ? float : v.dtype);
  return xs;
}

function fill(shape: Shape, dtype: DType, f: () => number): NDArray {
  return nd(shape, dtype, Array.from({ length: sizeOf(shape) }, f));
}

/** Standard normal values times `scale`. */
export const randn = (rng: Rng, shape: Shape, scale = 1) => fill(shape, 'float64', () => scale * rng.normal());

/** Uniform values in [lo, hi). */
export const uniform = (rng: Rng, shape: Shape, lo: number, hi: number) => fill(shape, 'float64', () => rng.uniform(lo, hi));

/** Values with |v| in [gap, gap + 1.5) and a random sign: away from a kink at 0 (relu, abs). */
export const awayFromZero = (rng: Rng, shape: Shape, gap = 0.1) =>
  fill(shape, 'float64', () => (rng.next() < 0.5 ? -1 : 1) * rng.uniform(gap, gap + 1.5));

/**
 * Values near k·0.2 + offset (|jitter| ≤ 0.02, k in −8..8): two arrays with offsets 0 and 0.1 differ by
 * at least 0.06 at every pair of positions, so max/min have no ties, whatever the broadcasting.
 */
export const onGrid = (rng: Rng, shape: Shape, offset: number) =>
  fill(shape, 'float64', () => (rng.int(17) - 8) * 0.2 + offset + rng.uniform(-0.02, 0.02));

/** Random integers in [0, n) (int64), or `values` exactly. */
export const ints = (rng: Rng, shape: Shape, n: number) => fill(shape, 'int64', () => rng.int(n));
export const i64 = (shape: Shape, values: number[]) => nd(shape, 'int64', values);

export const bools = (rng: Rng, shape: Shape) => fill(shape, 'bool', () => +(rng.next() < 0.5));

/** The ops in the graph the case builds (float32 inputs), to confirm it reaches the ops it claims. */
export function opsOf(c: OpCase): Set<OpName> {
  const g = new Graph();
  c.build(declareInputs(g, c, 'float32'));
  return new Set(g.nodes.map((n) => n.op));
}
