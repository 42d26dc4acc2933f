// Plain float64 arrays for graph constants and for the reference evaluator (engine/reference.ts),
// which checks gradient rules without ONNX Runtime. Integers and booleans are stored as numbers.
import type { DType, Shape } from './graph.ts';
import { GraphError, fmtShape, sizeOf } from './graph.ts';

export interface NDArray {
  shape: Shape;
  dtype: DType;
  data: Float64Array;
}

export function nd(shape: Shape, dtype: DType = 'float32', data?: ArrayLike<number>): NDArray {
  const n = sizeOf(shape);
  const out = new Float64Array(n);
  if (data) {
    if (data.length !== n) throw new GraphError(`array of ${data.length} values does not fill shape ${fmtShape(shape)}`);
    out.set(data);
  }
  return { shape: [...shape], dtype, data: out };
}

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** NumPy broadcasting of two shapes, or null when they are incompatible. */
export function broadcastShapes(a: Shape, b: Shape): number[] | null {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides for reading an array of `shape` as if broadcast to `target` (0 on broadcast axes). */
export function broadcastStrides(shape: Shape, target: Shape): number[] {
  const s = stridesOf(shape);
  const out = new Array<number>(target.length).fill(0);
  const off = target.length - shape.length;
  for (let i = 0; i < shape.length; i++) out[off + i] = shape[i] === 1 ? 0 : s[i];
  return out;
}

/** Calls f(outIndex, offsets...) for every element of `shape`, with offsets into each strided operand. */
export function forEachIndex(shape: Shape, strides: number[][], f: (i: number, offs: number[]) => void): void {
  const n = sizeOf(shape);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  const offs = strides.map(() => 0);
  for (let i = 0; i < n; i++) {
    f(i, offs);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      for (let k = 0; k < strides.length; k++) offs[k] += strides[k][d];
      if (idx[d] < shape[d]) break;
      for (let k = 0; k < strides.length; k++) offs[k] -= strides[k][d] * shape[d];
      idx[d] = 0;
    }
  }
}

export function unravel(i: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

/** Rounds to the precision of a dtype, so the reference evaluator stores what ONNX Runtime would. */
export function roundTo(dtype: DType, x: number): number {
  switch (dtype) {
    case 'float32':
      return Math.fround(x);
    case 'float64':
      return x;
    case 'int64':
    case 'int8':
      return Math.trunc(x);
    case 'bool':
      return x ? 1 : 0;
  }
}
