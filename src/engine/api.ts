// Functions that build graph nodes. Every primitive is created through `apply`, which runs the op's
// shape rule so that a mismatch fails here, at build time, naming the op and the shapes.
import { type DType, GraphError, type Shape, Tensor, fmtShape, sizeOf } from './graph.ts';
import { nd } from './ndarray.ts';
import { TABLE } from './ops/table.ts';
import type { ConvAttrs, OpAttrs, OpName } from './ops/types.ts';

export type TensorLike = Tensor | number;

export function apply<K extends OpName>(op: K, inputs: Tensor[], attrs: OpAttrs[K]): Tensor {
  const rule = TABLE[op];
  let t;
  try {
    t = rule.type(inputs.map((x) => ({ shape: x.shape, dtype: x.dtype })), attrs);
  } catch (e) {
    if (e instanceof GraphError && !e.message.startsWith(`${op}:`)) {
      // Shared rules name the ONNX op ('Add: …'); name the function that was called instead, once.
      const detail = e.message.replace(new RegExp(`^${op}: `, 'i'), '');
      throw new GraphError(`${op}: ${detail}; inputs ${inputs.map(String).join(', ')}`);
    }
    throw e;
  }
  return inputs[0].graph.addNode(op, inputs, attrs, t.shape, t.dtype);
}

function lift(x: TensorLike, like: Tensor): Tensor {
  return typeof x === 'number' ? like.graph.scalar(x, like.dtype) : x;
}

function binary(op: 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min' | 'equal' | 'less' | 'greater', a: TensorLike, b: TensorLike): Tensor {
  if (typeof a === 'number' && typeof b === 'number') throw new GraphError(`${op}: needs at least one tensor operand`);
  const like = (typeof a === 'number' ? b : a) as Tensor;
  return apply(op, [lift(a, like), lift(b, like)], {});
}

export const add = (a: TensorLike, b: TensorLike) => binary('add', a, b);
export const sub = (a: TensorLike, b: TensorLike) => binary('sub', a, b);
export const mul = (a: TensorLike, b: TensorLike) => binary('mul', a, b);
export const div = (a: TensorLike, b: TensorLike) => binary('div', a, b);
export const pow = (a: TensorLike, b: TensorLike) => binary('pow', a, b);
export const maximum = (a: TensorLike, b: TensorLike) => binary('max', a, b);
export const minimum = (a: TensorLike, b: TensorLike) => binary('min', a, b);
export const equal = (a: TensorLike, b: TensorLike) => binary('equal', a, b);
export const less = (a: TensorLike, b: TensorLike) => binary('less', a, b);
export const greater = (a: TensorLike, b: TensorLike) => binary('greater', a, b);

export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const like = typeof a === 'number' ? (typeof b === 'number' ? null : b) : a;
  if (!like) throw new GraphError('where: needs at least one tensor branch');
  return apply('where', [cond, lift(a, like), lift(b, like)], {});
}

export const neg = (x: Tensor) => apply('neg', [x], {});
export const exp = (x: Tensor) => apply('exp', [x], {});
export const log = (x: Tensor) => apply('log', [x], {});
export const sqrt = (x: Tensor) => apply('sqrt', [x], {});
export const abs = (x: Tensor) => apply('abs', [x], {});
export const sign = (x: Tensor) => apply('sign', [x], {});
export const erf = (x: Tensor) => apply('erf', [x], {});
export const sigmoid = (x: Tensor) => apply('sigmoid', [x], {});
export const tanh = (x: Tensor) => apply('tanh', [x], {});
export const relu = (x: Tensor) => apply('relu', [x], {});
export const leakyRelu = (x: Tensor, alpha = 0.01) => apply('leakyRelu', [x], { alpha });
export const stopGradient = (x: Tensor) => apply('stopGradient', [x], {});
export const square = (x: Tensor) => mul(x, x);

export function cast(x: Tensor, to: DType): Tensor {
  return x.dtype === to ? x : apply('cast', [x], { to });
}

export const matmul = (a: Tensor, b: Tensor) => apply('matmul', [a, b], {});

/** x float32 [..., K] @ int8 w [K, N] with per-column scales [N] (+ bias [N]), x quantized per call (inference only). */
/** softmax(q kᵀ / √d_head) v per head, for q, k, v [B, N, heads·d_head] with heads side by side (inference only). */
export const attention = (q: Tensor, k: Tensor, v: Tensor, heads: number) => apply('attention', [q, k, v], { heads });

export const dynamicQuantizeMatmul = (x: Tensor, w: Tensor, scale: Tensor, bias?: Tensor) =>
  apply('dynamicQuantizeMatmul', bias ? [x, w, scale, bias] : [x, w, scale], {});

/** 2-D convolution; `bias` [O] is added per output channel inside the Conv. */
export function conv(x: Tensor, w: Tensor, opts: Partial<ConvAttrs> = {}, bias?: Tensor): Tensor {
  return apply('conv', bias ? [x, w, bias] : [x, w], convAttrs(opts));
}

export function convTranspose(x: Tensor, w: Tensor, outputShape: [number, number], opts: Partial<ConvAttrs> = {}): Tensor {
  return apply('convTranspose', [x, w], { ...convAttrs(opts), outputShape });
}

function convAttrs(o: Partial<ConvAttrs>): ConvAttrs {
  return { strides: o.strides ?? [1, 1], pads: o.pads ?? [0, 0, 0, 0], dilations: o.dilations ?? [1, 1], groups: o.groups ?? 1 };
}

function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new GraphError(`${op}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

function normAxes(axes: number[] | undefined, rank: number, op: string): number[] {
  const list = axes ?? [...Array(rank).keys()];
  return [...new Set(list.map((a) => normAxis(a, rank, op)))].sort((p, q) => p - q);
}

export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = [...shape];
  const infer = s.indexOf(-1);
  if (infer >= 0) {
    const rest = sizeOf(s.filter((_, i) => i !== infer));
    if (rest === 0 || x.size % rest !== 0) throw new GraphError(`reshape: cannot reshape ${x} to ${fmtShape(shape)}`);
    s[infer] = x.size / rest;
  }
  if (fmtShape(s) === fmtShape(x.shape)) return x;
  return apply('reshape', [x], { shape: s });
}

export function transpose(x: Tensor, perm: number[]): Tensor {
  if (perm.every((p, i) => p === i)) return x;
  return apply('transpose', [x], { perm });
}

/** Swaps the last two axes. */
export function mT(x: Tensor): Tensor {
  const perm = [...x.shape.keys()];
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return transpose(x, perm);
}

export function expand(x: Tensor, shape: Shape): Tensor {
  if (fmtShape(shape) === fmtShape(x.shape)) return x;
  return apply('expand', [x], { shape: [...shape] });
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.rank + 1, 'unsqueeze');
  const s = [...x.shape];
  s.splice(a, 0, 1);
  return reshape(x, s);
}

export function squeeze(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.rank, 'squeeze');
  if (x.shape[a] !== 1) throw new GraphError(`squeeze: axis ${axis} of ${x} is not 1`);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

export function concat(xs: Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new GraphError('concat: no inputs');
  if (xs.length === 1) return xs[0];
  return apply('concat', xs, { axis: normAxis(axis, xs[0].rank, 'concat') });
}

/** Static slice; `ends` beyond the dimension are clamped, steps are positive. */
export function slice(x: Tensor, axes: number[], starts: number[], ends: number[], steps?: number[]): Tensor {
  const ax = axes.map((a) => normAxis(a, x.rank, 'slice'));
  const st = starts.map((s, i) => (s < 0 ? s + x.shape[ax[i]] : s));
  const en = ends.map((e, i) => Math.min(e < 0 ? e + x.shape[ax[i]] : e, x.shape[ax[i]]));
  return apply('slice', [x], { axes: ax, starts: st, ends: en, steps: steps ?? ax.map(() => 1) });
}

/** Constant padding; `pads` lists [begin_0..begin_{r-1}, end_0..end_{r-1}] as ONNX does. */
export function pad(x: Tensor, pads: number[], value = 0): Tensor {
  if (pads.every((p) => p === 0)) return x;
  return apply('pad', [x], { pads, value });
}

export const upsampleNearest2x = (x: Tensor) => apply('upsampleNearest2x', [x], {});

export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  return apply('gather', [x, indices], { axis: normAxis(axis, x.rank, 'gather') });
}

export function gatherElements(x: Tensor, indices: Tensor, axis: number): Tensor {
  return apply('gatherElements', [x, indices], { axis: normAxis(axis, x.rank, 'gatherElements') });
}

/** out = data, then out[indices[i]] += updates[i] along axis 0 (rows). */
export const scatterAdd = (data: Tensor, indices: Tensor, updates: Tensor) => apply('scatterAdd', [data, indices, updates], {});

export function scatterElementsAdd(data: Tensor, indices: Tensor, updates: Tensor, axis: number): Tensor {
  return apply('scatterElementsAdd', [data, indices, updates], { axis: normAxis(axis, data.rank, 'scatterElementsAdd') });
}

export function oneHot(indices: Tensor, depth: number, dtype: DType = 'float32'): Tensor {
  return apply('oneHot', [indices], { depth, dtype });
}

// Reducing over no axes returns x: ONNX would read an empty axis list as "all axes".
export function reduceSum(x: Tensor, axes?: number[], keepDims = false): Tensor {
  const ax = normAxes(axes, x.rank, 'reduceSum');
  return ax.length ? apply('reduceSum', [x], { axes: ax, keepDims }) : x;
}

export function reduceMean(x: Tensor, axes?: number[], keepDims = false): Tensor {
  const ax = normAxes(axes, x.rank, 'reduceMean');
  return ax.length ? apply('reduceMean', [x], { axes: ax, keepDims }) : x;
}

export function reduceMax(x: Tensor, axes?: number[], keepDims = false): Tensor {
  const ax = normAxes(axes, x.rank, 'reduceMax');
  return ax.length ? apply('reduceMax', [x], { axes: ax, keepDims }) : x;
}

export function argMax(x: Tensor, axis: number, keepDims = false): Tensor {
  return apply('argMax', [x], { axis: normAxis(axis, x.rank, 'argMax'), keepDims });
}

export function argMin(x: Tensor, axis: number, keepDims = false): Tensor {
  return apply('argMin', [x], { axis: normAxis(axis, x.rank, 'argMin'), keepDims });
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return apply('softmax', [x], { axis: normAxis(axis, x.rank, 'softmax') });
}

/** Normalises x [N, C, …] to zero mean and unit (biased) variance per (n, c) over the other axes (inference only). */
export const instanceNorm = (x: Tensor, eps: number) => apply('instanceNorm', [x], { eps });

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return apply('logSoftmax', [x], { axis: normAxis(axis, x.rank, 'logSoftmax') });
}

/** A constant tensor of float32 (or `dtype`) values with the given shape. */
export function constant(like: Tensor, shape: Shape, values: ArrayLike<number>, dtype: DType = 'float32'): Tensor {
  return like.graph.constant(nd(shape, dtype, values));
}

/** Zeros of `shape` in the graph and dtype of `like` (no data dependency on it). */
export function zeros(like: Tensor, shape: Shape): Tensor {
  return expand(like.graph.scalar(0, like.dtype), shape);
}

/** Sums `g` over the axes that broadcasting added or stretched, so it has `shape` again. */
export function unbroadcast(g: Tensor, shape: Shape): Tensor {
  if (fmtShape(g.shape) === fmtShape(shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length ? reduceSum(g, axes, true) : g;
  return reshape(summed, shape);
}
