// One importer per ONNX op type: the node's meaning as unmask primitives (F.*), inference semantics
// only (BatchNormalization uses its running statistics, Dropout is the identity). Pools are composed:
// MaxPool as the elementwise maximum of strided slices (ties send the gradient to the first tap in
// row-major order, as PyTorch's kernel does), AveragePool as a depthwise convolution with a constant
// kernel. Anything an importer cannot express throws a GraphError naming what is unsupported.
import * as F from './api.ts';
import { type DType, type Graph, GraphError, type Tensor, sizeOf } from './graph.ts';
import { type NDArray, nd } from './ndarray.ts';
import { evaluate } from './reference.ts';

export interface ImportContext {
  /** The graph the network is imported into. */
  readonly graph: Graph;
  readonly opset: number;
  /** The float dtype the network is imported in (its input's). */
  readonly float: DType;
  readonly inputCount: number;
  /** Whether optional input i is given. */
  has(i: number): boolean;
  input(i: number): Tensor;
  /** Input i's values, which must not depend on the image (shapes, axes, pads). */
  ints(i: number): number[];
  staticValue(i: number): NDArray;
  attrInt(name: string, dflt: number): number;
  attrInts(name: string, dflt: number[]): number[];
  attrFloat(name: string, dflt: number): number;
  attrFloats(name: string, dflt: number[]): number[];
  attrString(name: string, dflt: string): string;
  attrTensor(name: string): NDArray | undefined;
}

type Importer = (c: ImportContext) => Tensor[];

const unary = (f: (x: Tensor) => Tensor): Importer => (c) => [f(c.input(0))];

/** Folds ops whose inputs are all constants (shape arithmetic, mostly) into constants. */
function folded(t: Tensor): Tensor {
  if (t.source.kind !== 'op' || t.size > 1 << 16) return t;
  if (!t.source.node.inputs.every((i) => i.source.kind === 'const')) return t;
  return t.graph.constant(evaluate(t.graph, {}, [t])[0]);
}

const foldable = (imp: Importer): Importer => (c) => imp(c).map(folded);

/** ONNX broadcasting binary ops; Max and Min take any number of inputs. */
const variadic = (f: (a: Tensor, b: Tensor) => Tensor): Importer =>
  foldable((c) => {
    let r = c.input(0);
    for (let i = 1; i < c.inputCount; i++) r = f(r, c.input(i));
    return [r];
  });

function axisOf(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new GraphError(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

function need4d(x: Tensor): void {
  if (x.rank !== 4) throw new GraphError(`only 2-D images [N, C, H, W] are supported, got ${x}`);
}

/** auto_pad NOTSET or VALID (explicit pads); SAME_UPPER/SAME_LOWER are refused. */
function explicitPads(c: ImportContext): [number, number, number, number] {
  const auto = c.attrString('auto_pad', 'NOTSET');
  if (auto === 'VALID') {
    c.attrInts('pads', []);
    return [0, 0, 0, 0];
  }
  if (auto !== 'NOTSET') throw new GraphError(`auto_pad ${auto} is not supported; export with explicit pads`);
  const p = c.attrInts('pads', [0, 0, 0, 0]);
  if (p.length !== 4) throw new GraphError(`pads [${p}] must have 4 values (2-D)`);
  return p as [number, number, number, number];
}

interface Window {
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  /** [top, left, bottom, right], including the extra bottom/right rows that ceil_mode needs. */
  pads: [number, number, number, number];
  /** The pads the model declared (without ceil_mode's extra). */
  declared: [number, number, number, number];
  out: [number, number];
}

/** Pool geometry, with ONNX's (and PyTorch's) ceil_mode rule: a last window must start inside the input or left padding. */
function poolWindow(c: ImportContext, x: Tensor, dilated: boolean): Window {
  need4d(x);
  const kernel = c.attrInts('kernel_shape', []);
  if (kernel.length !== 2) throw new GraphError(`kernel_shape [${kernel}] must have 2 values`);
  const strides = c.attrInts('strides', [1, 1]);
  const dilations = dilated ? c.attrInts('dilations', [1, 1]) : [1, 1];
  const declared = explicitPads(c);
  const ceil = c.attrInt('ceil_mode', 0) === 1;
  const pads = [...declared] as Window['pads'];
  const out = [0, 1].map((i) => {
    const size = x.shape[2 + i] + declared[i] + declared[i + 2];
    const span = dilations[i] * (kernel[i] - 1) + 1;
    if (span > size) throw new GraphError(`kernel ${kernel} is larger than the padded input ${x}`);
    let n = ceil ? Math.ceil((size - span) / strides[i]) + 1 : Math.floor((size - span) / strides[i]) + 1;
    if (ceil && (n - 1) * strides[i] >= x.shape[2 + i] + declared[i]) n--;
    pads[i + 2] += Math.max(0, (n - 1) * strides[i] + span - size);
    return n;
  }) as [number, number];
  return { kernel: kernel as [number, number], strides: strides as [number, number], dilations: dilations as [number, number], pads, declared, out };
}

/** The strided slice of padded `p` that kernel tap (i, j) reads for every output position. */
function tap(p: Tensor, w: Window, i: number, j: number): Tensor {
  const y0 = i * w.dilations[0];
  const x0 = j * w.dilations[1];
  return F.slice(p, [2, 3], [y0, x0], [y0 + (w.out[0] - 1) * w.strides[0] + 1, x0 + (w.out[1] - 1) * w.strides[1] + 1], w.strides);
}

function maxPool(c: ImportContext): Tensor[] {
  const x = c.input(0);
  if (c.attrInt('storage_order', 0) !== 0) throw new GraphError('storage_order 1 is not supported');
  const w = poolWindow(c, x, true);
  const p = F.pad(x, [0, 0, w.pads[0], w.pads[1], 0, 0, w.pads[2], w.pads[3]], -Infinity);
  let r: Tensor | null = null;
  for (let i = 0; i < w.kernel[0]; i++) for (let j = 0; j < w.kernel[1]; j++) r = r ? F.maximum(r, tap(p, w, i, j)) : tap(p, w, i, j);
  return [r!];
}

/** Sum over each window as a depthwise conv with a kernel of ones, divided by the count ONNX prescribes. */
function averagePool(c: ImportContext): Tensor[] {
  const x = c.input(0);
  const w = poolWindow(c, x, false);
  const includePad = c.attrInt('count_include_pad', 0) === 1;
  const ch = x.shape[1];
  const [kh, kw] = w.kernel;
  const ones = x.graph.constant(nd([ch, 1, kh, kw], x.dtype, new Array(ch * kh * kw).fill(1)));
  const sums = F.conv(x, ones, { strides: w.strides, pads: w.pads, groups: ch });
  // Taps counted per output position: those inside the input, or inside the declared padding too.
  const [lo, hi] = includePad ? [[-w.declared[0], -w.declared[1]], [x.shape[2] + w.declared[2], x.shape[3] + w.declared[3]]] : [[0, 0], [x.shape[2], x.shape[3]]];
  const counts = new Array<number>(w.out[0] * w.out[1]);
  for (let y = 0; y < w.out[0]; y++)
    for (let xx = 0; xx < w.out[1]; xx++) {
      const rows = overlap(y * w.strides[0] - w.pads[0], kh, lo[0], hi[0]);
      const cols = overlap(xx * w.strides[1] - w.pads[1], kw, lo[1], hi[1]);
      counts[y * w.out[1] + xx] = rows * cols;
    }
  if (counts.every((n) => n === kh * kw)) return [F.div(sums, kh * kw)];
  return [F.div(sums, x.graph.constant(nd([1, 1, ...w.out], x.dtype, counts)))];
}

const overlap = (start: number, k: number, lo: number, hi: number) => Math.max(0, Math.min(start + k, hi) - Math.max(start, lo));

function conv(c: ImportContext): Tensor[] {
  const [x, w] = [c.input(0), c.input(1)];
  need4d(x);
  const kernel = c.attrInts('kernel_shape', w.shape.slice(2) as number[]);
  if (kernel.join() !== w.shape.slice(2).join()) throw new GraphError(`kernel_shape [${kernel}] differs from the weight ${w}`);
  const attrs = {
    strides: c.attrInts('strides', [1, 1]) as [number, number],
    dilations: c.attrInts('dilations', [1, 1]) as [number, number],
    pads: explicitPads(c),
    groups: c.attrInt('group', 1),
  };
  return [F.conv(x, w, attrs, c.has(2) ? c.input(2) : undefined)];
}

/** Inference BatchNormalization: one scale and shift per channel, folded from the statistics. */
function batchNorm(c: ImportContext): Tensor[] {
  const x = c.input(0);
  if (c.attrInt('training_mode', 0) !== 0) throw new GraphError('training_mode 1 is not supported (export the model in eval mode)');
  if (c.attrInt('spatial', 1) !== 1) throw new GraphError('spatial 0 is not supported');
  c.attrFloat('momentum', 0.9); // only used in training mode
  const eps = c.attrFloat('epsilon', 1e-5);
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => c.staticValue(i).data);
  const ch = gamma.length;
  const scale = Array.from(gamma, (g, i) => g / Math.sqrt(variance[i] + eps));
  const shift = Array.from(beta, (b, i) => b - mean[i] * scale[i]);
  const shape = [ch, ...new Array(Math.max(0, x.rank - 2)).fill(1)];
  const k = (v: number[]) => x.graph.constant(nd(shape, x.dtype, v));
  return [F.add(F.mul(x, k(scale)), k(shift))];
}

/** Y = alpha·A'·B' + beta·C, A' and B' optionally transposed. */
function gemm(c: ImportContext): Tensor[] {
  let [a, b] = [c.input(0), c.input(1)];
  if (c.attrInt('transA', 0)) a = F.mT(a);
  if (c.attrInt('transB', 0)) b = F.mT(b);
  let y = F.matmul(a, b);
  const alpha = c.attrFloat('alpha', 1);
  const beta = c.attrFloat('beta', 1);
  if (alpha !== 1) y = F.mul(y, alpha);
  if (c.has(2)) y = F.add(y, beta === 1 ? c.input(2) : F.mul(c.input(2), beta));
  return [y];
}

function flatten(c: ImportContext): Tensor[] {
  const x = c.input(0);
  const axis = c.attrInt('axis', 1);
  const a = axis < 0 ? axis + x.rank : axis;
  return [F.reshape(x, [sizeOf(x.shape.slice(0, a)), sizeOf(x.shape.slice(a))])];
}

function reshape(c: ImportContext): Tensor[] {
  const x = c.input(0);
  if (c.attrInt('allowzero', 0) !== 0) throw new GraphError('allowzero 1 is not supported');
  const shape = c.ints(1).map((d, i) => (d === 0 ? x.shape[i] : d));
  return [F.reshape(x, shape)];
}

function constant(c: ImportContext): Tensor[] {
  const t = c.attrTensor('value');
  const f = c.attrFloat('value_float', NaN);
  const fs = c.attrFloats('value_floats', []);
  const i = c.attrInt('value_int', NaN);
  const is = c.attrInts('value_ints', []);
  const made = (v: NDArray) => ({ ...v, dtype: v.dtype === 'float32' ? c.float : v.dtype });
  let v: NDArray;
  if (t) v = made(t);
  else if (!Number.isNaN(f)) v = nd([], c.float, [f]);
  else if (!Number.isNaN(i)) v = nd([], 'int64', [i]);
  else if (is.length) v = nd([is.length], 'int64', is);
  else if (fs.length) v = nd([fs.length], c.float, fs);
  else throw new GraphError('only value, value_float(s) and value_int(s) are supported');
  return [c.graph.constant(v)];
}

function clip(c: ImportContext): Tensor[] {
  let x = c.input(0);
  const bound = (i: number, attr: string, dflt: number) => {
    if (c.opset < 11) return c.attrFloat(attr, dflt);
    return c.has(i) ? c.staticValue(i).data[0] : dflt;
  };
  const lo = bound(1, 'min', -Infinity);
  const hi = bound(2, 'max', Infinity);
  if (lo > -Infinity) x = F.maximum(x, lo);
  if (hi < Infinity) x = F.minimum(x, hi);
  return [x];
}

function pad(c: ImportContext): Tensor[] {
  const x = c.input(0);
  const mode = c.attrString('mode', 'constant');
  if (mode !== 'constant') throw new GraphError(`mode '${mode}' is not supported (only constant)`);
  if (c.has(3)) throw new GraphError('the axes input is not supported');
  const pads = c.opset < 11 ? c.attrInts('pads', []) : c.ints(1);
  const value = c.opset < 11 ? c.attrFloat('value', 0) : c.has(2) ? c.staticValue(2).data[0] : 0;
  if (pads.some((p) => p < 0)) throw new GraphError(`negative pads [${pads}] (cropping) are not supported`);
  return [F.pad(x, pads, value)];
}

/** Axes from the attribute (older opsets) or the second input (opset 13, 18 for reductions). */
function axesOf(c: ImportContext, inputFrom: number): number[] | undefined {
  if (c.opset >= inputFrom) return c.has(1) ? c.ints(1) : undefined;
  const a = c.attrInts('axes', []);
  return a.length ? a : undefined;
}

function unsqueeze(c: ImportContext): Tensor[] {
  let x = c.input(0);
  const axes = axesOf(c, 13) ?? [];
  const rank = x.rank + axes.length;
  for (const a of axes.map((a) => (a < 0 ? a + rank : a)).sort((p, q) => p - q)) x = F.unsqueeze(x, a);
  return [x];
}

function squeeze(c: ImportContext): Tensor[] {
  const x = c.input(0);
  const axes = (axesOf(c, 13) ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => axisOf(a, x.rank));
  for (const a of axes) if (x.shape[a] !== 1) throw new GraphError(`cannot squeeze axis ${a} of ${x}`);
  return [F.reshape(x, x.shape.filter((_, i) => !axes.includes(i)))];
}

function reduceMean(c: ImportContext): Tensor[] {
  const x = c.input(0);
  const axes = axesOf(c, 18);
  const keep = c.attrInt('keepdims', 1) === 1;
  if (c.attrInt('noop_with_empty_axes', 0) === 1 && !axes) return [x];
  return [F.reduceMean(x, axes?.map((a) => axisOf(a, x.rank)), keep)];
}

const ONNX_TO_DTYPE: Record<number, DType | 'float'> = { 1: 'float', 11: 'float', 7: 'int64', 6: 'int64', 9: 'bool' };

function cast(c: ImportContext): Tensor[] {
  const to = ONNX_TO_DTYPE[c.attrInt('to', 0)];
  if (!to) throw new GraphError(`casting to ONNX data type ${c.attrInt('to', 0)} is not supported`);
  return [F.cast(c.input(0), to === 'float' ? c.float : to)];
}

function softmax(c: ImportContext): Tensor[] {
  const x = c.input(0);
  const axis = axisOf(c.attrInt('axis', c.opset >= 13 ? -1 : 1), x.rank);
  // Before opset 13 Softmax flattened the axes from `axis` on; that is the same only for the last axis.
  if (c.opset < 13 && axis !== x.rank - 1) throw new GraphError(`softmax over axes ${axis}.. (opset ${c.opset}) is not supported; export with opset ≥ 13`);
  return [F.softmax(x, axis)];
}

/** Dropout at inference is the identity; a model exported for training is refused. */
function dropout(c: ImportContext): Tensor[] {
  c.attrInt('seed', 0);
  if (c.has(2) && c.staticValue(2).data[0]) throw new GraphError('training_mode true is not supported');
  return [c.input(0)];
}

function shape(c: ImportContext): Tensor[] {
  const x = c.input(0);
  const dims = x.shape.slice(c.attrInt('start', 0), c.attrInt('end', x.rank)); // slice reads negative ends as ONNX does
  return [x.graph.constant(nd([dims.length], 'int64', dims))];
}

export const IMPORTERS = {
  Conv: conv,
  Relu: unary(F.relu),
  LeakyRelu: (c: ImportContext) => [F.leakyRelu(c.input(0), c.attrFloat('alpha', 0.01))],
  Sigmoid: unary(F.sigmoid),
  Tanh: unary(F.tanh),
  Exp: unary(F.exp),
  Log: unary(F.log),
  Sqrt: unary(F.sqrt),
  Abs: unary(F.abs),
  Neg: unary(F.neg),
  Erf: unary(F.erf),
  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalAveragePool: (c: ImportContext) => [F.reduceMean(c.input(0), [2, 3], true)],
  GlobalMaxPool: (c: ImportContext) => [F.reduceMax(c.input(0), [2, 3], true)],
  BatchNormalization: batchNorm,
  Gemm: gemm,
  MatMul: (c: ImportContext) => [F.matmul(c.input(0), c.input(1))],
  Add: variadic(F.add),
  Sub: variadic(F.sub),
  Mul: variadic(F.mul),
  Div: variadic(F.div),
  Pow: variadic(F.pow),
  Max: variadic(F.maximum),
  Min: variadic(F.minimum),
  Flatten: flatten,
  Reshape: reshape,
  Transpose: (c: ImportContext) => [F.transpose(c.input(0), c.attrInts('perm', [...c.input(0).shape.keys()].reverse()))],
  Concat: foldable((c) => [F.concat(Array.from({ length: c.inputCount }, (_, i) => c.input(i)), c.attrInt('axis', 0))]),
  Softmax: softmax,
  ReduceMean: reduceMean,
  Constant: constant,
  Identity: (c: ImportContext) => [c.input(0)],
  Dropout: dropout,
  Clip: clip,
  Pad: pad,
  Shape: shape,
  Gather: foldable((c) => [F.gather(c.input(0), c.input(1), c.attrInt('axis', 0))]),
  Unsqueeze: foldable(unsqueeze),
  Squeeze: foldable(squeeze),
  Cast: foldable(cast),
} satisfies Record<string, Importer>;
