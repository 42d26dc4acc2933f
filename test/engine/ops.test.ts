// Every primitive in the op table, two ways: its gradient rule against float64 central finite
// differences (reference evaluator only), and its ONNX lowering against the reference evaluator in
// float32, and in float64 where ORT has double kernels (forward, and backward for differentiable
// cases). Then the build-time errors people see.
import { afterAll, describe, expect, it } from 'vitest';
import * as F from '../../src/engine/api.ts';
import { grad } from '../../src/engine/autodiff.ts';
import { Graph, GraphError, type Shape, type Tensor, fmtShape } from '../../src/engine/graph.ts';
import { type NDArray, nd } from '../../src/engine/ndarray.ts';
import { TABLE } from '../../src/engine/ops/table.ts';
import type { ConvAttrs, OpName } from '../../src/engine/ops/types.ts';
import { evaluate } from '../../src/engine/reference.ts';
import { Rng } from '../../src/engine/rng.ts';
import { gradCheck } from '../helpers/gradcheck.ts';
import { type OpCase, awayFromZero, bools, i64, ints, onGrid, opsOf, randn, uniform } from '../helpers/opcase.ts';
import { parity } from '../helpers/parity.ts';
import { FD_EPS, GRAD_ATOL, GRAD_RTOL, PARITY64_ATOL, PARITY64_RTOL, PARITY_ATOL, PARITY_RTOL } from '../helpers/tolerances.ts';

const rng = new Rng(20220607);
const CASES: OpCase[] = [];

// ---- elementwise binary, with broadcasting ----

const BROADCASTS: [Shape, Shape][] = [
  [[2, 3], [2, 3]],
  [[2, 3, 4], [3, 1]],
  [[1, 4], [2, 1]],
  [[2, 3], []],
];

/** Input values per binary op: positive bases for pow, divisors away from 0, tie-free max/min. */
const BINARY: [OpName, (a: Tensor, b: Tensor) => Tensor, (s: Shape, which: 0 | 1) => NDArray][] = [
  ['add', F.add, (s) => randn(rng, s)],
  ['sub', F.sub, (s) => randn(rng, s)],
  ['mul', F.mul, (s) => randn(rng, s)],
  ['div', F.div, (s, w) => (w ? awayFromZero(rng, s, 0.5) : randn(rng, s))],
  ['pow', F.pow, (s, w) => (w ? uniform(rng, s, -1.5, 1.5) : uniform(rng, s, 0.5, 2))],
  ['max', F.maximum, (s, w) => onGrid(rng, s, w * 0.1)],
  ['min', F.minimum, (s, w) => onGrid(rng, s, w * 0.1)],
];
for (const [op, f, gen] of BINARY) {
  for (const [sa, sb] of BROADCASTS) {
    CASES.push({ name: `${op} ${fmtShape(sa)} with ${fmtShape(sb)}`, ops: [op], inputs: { a: gen(sa, 0), b: gen(sb, 1) }, build: ({ a, b }) => f(a, b) });
  }
  // the swapped order broadcasts the other operand
  CASES.push({ name: `${op} [3,1] with [2,3,4]`, ops: [op], inputs: { a: gen([3, 1], 0), b: gen([2, 3, 4], 1) }, build: ({ a, b }) => f(a, b) });
}
CASES.push(
  { name: 'add tensor + number', ops: ['add'], inputs: { x: randn(rng, [2, 3]) }, build: ({ x }) => F.add(x, 2.5) },
  { name: 'sub number − tensor', ops: ['sub'], inputs: { x: randn(rng, [2, 3]) }, build: ({ x }) => F.sub(1.5, x) },
  { name: 'div number / tensor', ops: ['div'], inputs: { x: awayFromZero(rng, [2, 3], 0.5) }, build: ({ x }) => F.div(2, x) },
  // exponent 2 has its own gradient path (no Pow), valid for negative bases too
  { name: 'pow x^2, negative bases', ops: ['pow'], inputs: { x: randn(rng, [2, 3]) }, build: ({ x }) => F.pow(x, 2) },
  { name: 'pow x^3 (constant exponent)', ops: ['pow'], inputs: { x: uniform(rng, [2, 3], 0.5, 2) }, build: ({ x }) => F.pow(x, 3) },
  { name: 'pow 2^x (constant base)', ops: ['pow'], inputs: { x: randn(rng, [2, 3]) }, build: ({ x }) => F.pow(2, x) },
  // 0.3 and −0.1 lie at least 0.08 from onGrid(·, 0) values
  { name: 'max with a number', ops: ['max'], inputs: { x: onGrid(rng, [2, 3], 0) }, build: ({ x }) => F.maximum(x, 0.3) },
  { name: 'min with a number', ops: ['min'], inputs: { x: onGrid(rng, [2, 3], 0) }, build: ({ x }) => F.minimum(x, -0.1) },
);

/** Floats drawn from {0, 1, 2}: comparisons and ties happen often. */
const smallInts = (s: Shape) => ({ ...ints(rng, s, 3), dtype: 'float64' as const });
CASES.push(
  // Ties are a kink: forward parity only (the rule sends the whole gradient to the first input).
  { name: 'max/min with ties (forward)', ops: ['max', 'min'], parityOnly: true, inputs: { a: smallInts([2, 3, 4]), b: smallInts([3, 1]) }, build: ({ a, b }) => F.add(F.maximum(a, b), F.mul(F.minimum(a, b), 3)) },
  { name: 'equal float [2,3,4] with [3,1]', ops: ['equal'], parityOnly: true, inputs: { a: smallInts([2, 3, 4]), b: smallInts([3, 1]) }, build: ({ a, b }) => F.equal(a, b) },
  { name: 'less float [2,3,4] with [3,1]', ops: ['less'], parityOnly: true, inputs: { a: smallInts([2, 3, 4]), b: smallInts([3, 1]) }, build: ({ a, b }) => F.less(a, b) },
  { name: 'greater float [1,4] with [2,1]', ops: ['greater'], parityOnly: true, inputs: { a: smallInts([1, 4]), b: smallInts([2, 1]) }, build: ({ a, b }) => F.greater(a, b) },
  { name: 'equal int64 and bool', ops: ['equal'], parityOnly: true, inputs: { a: ints(rng, [2, 4], 3), b: ints(rng, [4], 3), p: bools(rng, [2, 4]), q: bools(rng, [2, 1]) }, build: ({ a, b, p, q }) => F.equal(F.equal(a, b), F.equal(p, q)) },
  { name: 'less/greater int64', ops: ['less', 'greater'], parityOnly: true, inputs: { a: ints(rng, [2, 4], 3), b: ints(rng, [4], 3) }, build: ({ a, b }) => F.equal(F.less(a, b), F.greater(b, 1)) },
  { name: 'add/sub/mul int64', ops: ['add', 'sub', 'mul'], parityOnly: true, inputs: { a: ints(rng, [2, 4], 9), b: ints(rng, [4], 9) }, build: ({ a, b }) => F.mul(F.sub(a, b), F.add(a, 3)) },
  { name: 'where bool[2,3,1] ? [2,3,4] : [4]', ops: ['where'], inputs: { c: bools(rng, [2, 3, 1]), a: randn(rng, [2, 3, 4]), b: randn(rng, [4]) }, build: ({ c, a, b }) => F.where(c, a, b) },
  { name: 'where bool[2,3] ? [3] : number', ops: ['where'], inputs: { c: bools(rng, [2, 3]), a: randn(rng, [3]) }, build: ({ c, a }) => F.where(c, a, 0.5) },
  { name: 'where from a comparison', ops: ['where', 'greater'], inputs: { a: onGrid(rng, [2, 3], 0), b: onGrid(rng, [2, 3], 0.1) }, build: ({ a, b }) => F.where(F.greater(a, b), F.mul(a, b), F.sub(a, b)) },
);

// ---- elementwise unary ----

CASES.push(
  { name: 'neg', ops: ['neg'], inputs: { x: randn(rng, [2, 3]) }, build: ({ x }) => F.neg(x) },
  { name: 'exp', ops: ['exp'], inputs: { x: uniform(rng, [2, 3], -2, 2) }, build: ({ x }) => F.exp(x) },
  { name: 'log (positive inputs)', ops: ['log'], inputs: { x: uniform(rng, [2, 3], 0.2, 3) }, build: ({ x }) => F.log(x) },
  { name: 'sqrt (positive inputs)', ops: ['sqrt'], inputs: { x: uniform(rng, [2, 3], 0.2, 3) }, build: ({ x }) => F.sqrt(x) },
  { name: 'abs (away from 0)', ops: ['abs'], inputs: { x: awayFromZero(rng, [2, 3]) }, build: ({ x }) => F.abs(x) },
  // past 2.5 erf switches from its series to a continued fraction
  { name: 'erf on [−3.5, 3.5]', ops: ['erf'], inputs: { x: uniform(rng, [2, 5], -3.5, 3.5) }, build: ({ x }) => F.erf(x) },
  { name: 'sigmoid', ops: ['sigmoid'], inputs: { x: randn(rng, [2, 3], 2) }, build: ({ x }) => F.sigmoid(x) },
  { name: 'tanh', ops: ['tanh'], inputs: { x: randn(rng, [2, 3], 1.5) }, build: ({ x }) => F.tanh(x) },
  { name: 'relu (away from 0)', ops: ['relu'], inputs: { x: awayFromZero(rng, [2, 4]) }, build: ({ x }) => F.relu(x) },
  { name: 'leakyRelu 0.2 (away from 0)', ops: ['leakyRelu'], inputs: { x: awayFromZero(rng, [2, 4]) }, build: ({ x }) => F.leakyRelu(x, 0.2) },
  {
    // Float32 ↔ float64 round trip. The values and the step lie on a 1/64 grid, so x ± eps is exact in
    // float32 and the difference quotient is exact; the autodiff gradient passes through float32 (~1e-7).
    name: 'cast float ↔ other float',
    ops: ['cast'],
    inputs: { x: nd([2, 3], 'float64', Array.from({ length: 6 }, () => (rng.int(257) - 128) / 64)) },
    build: ({ x }) => F.cast(F.mul(F.cast(x, x.dtype === 'float32' ? 'float64' : 'float32'), 1.5), x.dtype),
    eps: 1 / 64,
  },
  { name: 'cast float → int64 (truncates)', ops: ['cast'], parityOnly: true, inputs: { x: nd([2, 3], 'float64', [-2.7, -1.2, -0.4, 0.3, 1.6, 2.9]) }, build: ({ x }) => F.cast(x, 'int64') },
  { name: 'cast int64/bool → float', ops: ['cast'], parityOnly: true, inputs: { i: ints(rng, [2, 3], 7), b: bools(rng, [2, 3]) }, build: ({ i, b }) => F.add(F.cast(i, 'float32'), F.cast(b, 'float32')) },
  { name: 'cast float → bool', ops: ['cast'], parityOnly: true, inputs: { x: nd([4], 'float64', [0, -0.5, 2, 0]) }, build: ({ x }) => F.cast(x, 'bool') },
  { name: 'sign float (with zeros)', ops: ['sign'], parityOnly: true, inputs: { x: nd([2, 3], 'float64', [-1.5, 0, 2, 0.1, -0.01, 0]) }, build: ({ x }) => F.sign(x) },
  { name: 'neg/abs/sign int64', ops: ['neg', 'abs', 'sign'], parityOnly: true, inputs: { x: i64([2, 3], [-3, 0, 2, 5, -1, 0]) }, build: ({ x }) => F.add(F.mul(F.neg(x), F.abs(x)), F.sign(x)) },
  { name: 'stopGradient (forward)', ops: ['stopGradient'], parityOnly: true, inputs: { x: randn(rng, [2, 3]) }, build: ({ x }) => F.mul(F.stopGradient(x), 2) },
);

// ---- linear algebra ----

const MATMULS: [Shape, Shape][] = [
  [[2, 3], [3, 4]],
  [[2, 3, 4, 5], [5, 6]],
  [[1, 3, 4], [2, 4, 5]],
  [[3, 4], [2, 4, 5]],
  [[2, 1, 3, 4], [3, 4, 2]],
];
for (const [sa, sb] of MATMULS) {
  CASES.push({ name: `matmul ${fmtShape(sa)} @ ${fmtShape(sb)}`, ops: ['matmul'], inputs: { a: randn(rng, sa), b: randn(rng, sb) }, build: ({ a, b }) => F.matmul(a, b) });
}

// fused multi-head attention (inference only): self-attention and a longer key/value sequence
for (const [n, m, heads] of [
  [5, 5, 2],
  [3, 7, 4],
] as [number, number, number][]) {
  CASES.push({
    name: `attention q [2,${n},8], k/v [2,${m},8], ${heads} heads`,
    ops: ['attention'],
    inputs: { q: randn(rng, [2, n, 8]), k: randn(rng, [2, m, 8]), v: randn(rng, [2, m, 8]) },
    build: ({ q, k, v }) => F.attention(q, k, v, heads),
    parityOnly: true,
  });
}

// instance normalisation (inference only): per (n, c) over the remaining axes, one case with a
// constant row (variance 0, so eps decides) and one with rank 4
CASES.push(
  { name: 'instanceNorm [2,3,5] eps 1e-5', ops: ['instanceNorm'], inputs: { x: randn(rng, [2, 3, 5]) }, build: ({ x }) => F.instanceNorm(x, 1e-5), parityOnly: true },
  {
    name: 'instanceNorm [1,2,2,3] eps 1e-6 with a constant channel',
    ops: ['instanceNorm'],
    inputs: { x: nd([1, 2, 2, 3], 'float64', [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, ...randn(rng, [6]).data]) },
    build: ({ x }) => F.instanceNorm(x, 1e-6),
    parityOnly: true,
  },
);

// int8 weights in −127..127, positive per-column scales; x is quantized inside the op (ORT's rule),
// so the reference reproduces the integer products exactly and parity holds at float32 rounding.
const int8s = (shape: Shape) => nd(shape, 'int8', Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.int(255) - 127));
for (const [xs, n, bias] of [
  [[3, 16], 5, true],
  [[2, 4, 16], 6, false],
] as [Shape, number, boolean][]) {
  const k = xs[xs.length - 1];
  CASES.push({
    name: `dynamicQuantizeMatmul ${fmtShape(xs)} @ int8 [${k},${n}]${bias ? ' + bias' : ''}`,
    ops: ['dynamicQuantizeMatmul'],
    inputs: { x: randn(rng, xs), w: int8s([k, n]), scale: uniform(rng, [n], 0.001, 0.02), ...(bias ? { b: randn(rng, [n]) } : {}) },
    build: ({ x, w, scale, b }) => F.dynamicQuantizeMatmul(x, w, scale, b),
    parityOnly: true,
  });
}
// all of x ≥ 0: the zero point is 0 and the range is [0, max]
CASES.push({
  name: 'dynamicQuantizeMatmul x ≥ 0 @ int8 [8,4]',
  ops: ['dynamicQuantizeMatmul'],
  inputs: { x: uniform(rng, [5, 8], 0, 3), w: int8s([8, 4]), scale: uniform(rng, [4], 0.001, 0.02) },
  build: ({ x, w, scale }) => F.dynamicQuantizeMatmul(x, w, scale),
  parityOnly: true,
});

function convCase(name: string, xs: Shape, ws: Shape, o: Partial<ConvAttrs>): OpCase {
  return { name: `conv ${name}`, ops: ['conv'], inputs: { x: randn(rng, xs), w: randn(rng, ws, 0.5) }, build: ({ x, w }) => F.conv(x, w, o) };
}
CASES.push(
  convCase('3×3 stride 1 pad 1', [2, 3, 5, 5], [4, 3, 3, 3], { pads: [1, 1, 1, 1] }),
  convCase('3×3 stride 2 pad 1', [1, 2, 5, 5], [2, 2, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }),
  // VQGAN's Downsample pads right and bottom only, then a 3×3 stride-2 conv
  convCase('3×3 stride 2 pads [0,0,1,1] (VQGAN downsample)', [1, 2, 6, 6], [3, 2, 3, 3], { strides: [2, 2], pads: [0, 0, 1, 1] }),
  convCase('dilation 2', [1, 2, 7, 6], [2, 2, 3, 3], { dilations: [2, 2], pads: [2, 1, 2, 1] }),
  convCase('groups 2', [2, 4, 5, 5], [6, 2, 3, 3], { groups: 2, pads: [1, 1, 1, 1] }),
  convCase('3×2, stride [2,1], dilation [1,2], pads [1,0,2,1], groups 2', [1, 4, 7, 6], [4, 2, 3, 2], { strides: [2, 1], dilations: [1, 2], pads: [1, 0, 2, 1], groups: 2 }),
  convCase('1×1', [2, 3, 4, 4], [5, 3, 1, 1], {}),
  // an image smaller than the kernel's reach: most im2col taps read the padding
  convCase('3×3 on 2×2 images, 6 channels', [2, 6, 2, 2], [6, 6, 3, 3], { pads: [1, 1, 1, 1] }),
  {
    name: 'conv 3×3 pad 1 with bias',
    ops: ['conv'],
    inputs: { x: randn(rng, [2, 3, 4, 4]), w: randn(rng, [4, 3, 3, 3], 0.5), b: randn(rng, [4]) },
    build: ({ x, w, b }) => F.conv(x, w, { pads: [1, 1, 1, 1] }, b),
  },
);

function convTCase(name: string, xs: Shape, ws: Shape, out: [number, number], o: Partial<ConvAttrs>): OpCase {
  return { name: `convTranspose ${name}`, ops: ['convTranspose'], inputs: { x: randn(rng, xs), w: randn(rng, ws, 0.5) }, build: ({ x, w }) => F.convTranspose(x, w, out, o) };
}
CASES.push(
  convTCase('3×3 stride 1 pad 1 (lowered as Conv)', [2, 3, 4, 4], [3, 2, 3, 3], [4, 4], { pads: [1, 1, 1, 1] }),
  convTCase('3×3 stride 2 pad 1, output padding 1', [1, 2, 3, 3], [2, 3, 3, 3], [6, 6], { strides: [2, 2], pads: [1, 1, 1, 1] }),
  convTCase('3×3 stride 1 pad 1, groups 2 (lowered as grouped Conv)', [1, 4, 4, 4], [4, 3, 3, 3], [4, 4], { pads: [1, 1, 1, 1], groups: 2 }),
  convTCase('4×4 stride 2 pad 1, groups 2', [1, 4, 3, 3], [4, 2, 4, 4], [6, 6], { strides: [2, 2], pads: [1, 1, 1, 1], groups: 2 }),
  convTCase('stride 1, dilation 2, pads [1,2,0,1], output padding 1', [1, 2, 4, 4], [2, 3, 3, 3], [8, 6], { dilations: [2, 2], pads: [1, 2, 0, 1] }),
);

// ---- shape ----

CASES.push(
  { name: 'reshape [2,3,4] → [4,6]', ops: ['reshape'], inputs: { x: randn(rng, [2, 3, 4]) }, build: ({ x }) => F.reshape(x, [4, 6]) },
  { name: 'transpose [2,3,4] perm [2,0,1]', ops: ['transpose'], inputs: { x: randn(rng, [2, 3, 4]) }, build: ({ x }) => F.transpose(x, [2, 0, 1]) },
  { name: 'expand [3,1] → [2,3,4]', ops: ['expand'], inputs: { x: randn(rng, [3, 1]) }, build: ({ x }) => F.expand(x, [2, 3, 4]) },
  { name: 'expand [] → [2,3]', ops: ['expand'], inputs: { x: randn(rng, []) }, build: ({ x }) => F.expand(x, [2, 3]) },
  { name: 'concat axis 1 of [2,1,3], [2,3,3], [2,2,3]', ops: ['concat'], inputs: { a: randn(rng, [2, 1, 3]), b: randn(rng, [2, 3, 3]), c: randn(rng, [2, 2, 3]) }, build: ({ a, b, c }) => F.concat([a, b, c], 1) },
  { name: 'concat axis 0, one input twice', ops: ['concat'], inputs: { a: randn(rng, [2, 3]), b: randn(rng, [1, 3]) }, build: ({ a, b }) => F.concat([a, b, a], 0) },
  { name: 'slice [5,6] steps [2,2]', ops: ['slice'], inputs: { x: randn(rng, [5, 6]) }, build: ({ x }) => F.slice(x, [0, 1], [1, 0], [5, 6], [2, 2]) },
  // both axes end short of a whole step: the gradient's interleaved zeros overrun and are cropped
  { name: 'slice [2,6,5] steps [2,3], ragged ends', ops: ['slice'], inputs: { x: randn(rng, [2, 6, 5]) }, build: ({ x }) => F.slice(x, [1, 2], [1, 0], [6, 5], [2, 3]) },
  { name: 'slice negative start, end past the axis', ops: ['slice'], inputs: { x: randn(rng, [2, 5]) }, build: ({ x }) => F.slice(x, [-1], [-3], [100]) },
  { name: 'pad [2,3,4] by [0,1,2 | 1,0,1] with 0.5', ops: ['pad'], inputs: { x: randn(rng, [2, 3, 4]) }, build: ({ x }) => F.pad(x, [0, 1, 2, 1, 0, 1], 0.5) },
  { name: 'upsampleNearest2x [1,2,3,3]', ops: ['upsampleNearest2x'], inputs: { x: randn(rng, [1, 2, 3, 3]) }, build: ({ x }) => F.upsampleNearest2x(x) },
);

// ---- indexing (integer inputs are not differentiated) ----

CASES.push(
  { name: 'gather axis 0, repeated indices', ops: ['gather'], inputs: { x: randn(rng, [5, 3]), i: i64([4], [1, 3, 1, 0]) }, build: ({ x, i }) => F.gather(x, i, 0) },
  { name: 'gather axis 0, 2-D indices', ops: ['gather'], inputs: { x: randn(rng, [4, 3]), i: i64([2, 3], [2, 0, 2, 3, 3, 1]) }, build: ({ x, i }) => F.gather(x, i, 0) },
  { name: 'gather axis 1, repeated indices', ops: ['gather'], inputs: { x: randn(rng, [2, 5, 3]), i: i64([2, 2], [4, 0, 4, 4]) }, build: ({ x, i }) => F.gather(x, i, 1) },
  { name: 'gather negative indices', ops: ['gather'], inputs: { x: randn(rng, [4, 2]), i: i64([3], [-1, 0, -1]) }, build: ({ x, i }) => F.gather(x, i, 0) },
  { name: 'gatherElements axis 1, repeats', ops: ['gatherElements'], inputs: { x: randn(rng, [3, 4]), i: ints(rng, [3, 5], 4) }, build: ({ x, i }) => F.gatherElements(x, i, 1) },
  { name: 'gatherElements axis 0, indices smaller than data', ops: ['gatherElements'], inputs: { x: randn(rng, [3, 4]), i: ints(rng, [4, 2], 3) }, build: ({ x, i }) => F.gatherElements(x, i, 0) },
  { name: 'scatterAdd rows, repeated indices', ops: ['scatterAdd'], inputs: { d: randn(rng, [5, 3]), i: i64([4], [1, 3, 1, 0]), u: randn(rng, [4, 3]) }, build: ({ d, i, u }) => F.scatterAdd(d, i, u) },
  { name: 'scatterAdd 2-D indices', ops: ['scatterAdd'], inputs: { d: randn(rng, [3, 2]), i: i64([2, 2], [2, 0, 2, 2]), u: randn(rng, [2, 2, 2]) }, build: ({ d, i, u }) => F.scatterAdd(d, i, u) },
  { name: 'scatterElementsAdd axis 1, repeats', ops: ['scatterElementsAdd'], inputs: { d: randn(rng, [3, 4]), i: ints(rng, [3, 4], 4), u: randn(rng, [3, 4]) }, build: ({ d, i, u }) => F.scatterElementsAdd(d, i, u, 1) },
  { name: 'scatterElementsAdd axis 0, indices smaller than data', ops: ['scatterElementsAdd'], inputs: { d: randn(rng, [3, 4]), i: ints(rng, [2, 2], 3), u: randn(rng, [2, 2]) }, build: ({ d, i, u }) => F.scatterElementsAdd(d, i, u, 0) },
  // depth 5: the index 5 is out of range and gives a zero row
  { name: 'oneHot depth 5 float32', ops: ['oneHot'], parityOnly: true, inputs: { i: i64([2, 3], [0, 4, 2, 5, 2, 1]) }, build: ({ i }) => F.oneHot(i, 5) },
  { name: 'oneHot depth 3 int64', ops: ['oneHot'], parityOnly: true, inputs: { i: i64([4], [2, 0, 0, 1]) }, build: ({ i }) => F.oneHot(i, 3, 'int64') },
);

// ---- reductions ----

for (const op of ['reduceSum', 'reduceMean', 'reduceMax'] as const) {
  const f = { reduceSum: F.reduceSum, reduceMean: F.reduceMean, reduceMax: F.reduceMax }[op];
  const settings: [number[] | undefined, boolean][] = [
    [[1], false],
    [[0, 2], true],
    [[-1], true],
    [undefined, false],
  ];
  for (const [axes, keep] of settings) {
    // random normal inputs: reduceMax has no ties, almost surely
    CASES.push({ name: `${op} [2,3,4] axes ${axes ? `[${axes}]` : 'all'} keepDims ${keep}`, ops: [op], inputs: { x: randn(rng, [2, 3, 4]) }, build: ({ x }) => f(x, axes, keep) });
  }
}
CASES.push(
  // ONNX reduces every axis when given none; ours reduce none
  { name: 'reduceSum/Mean/Max over no axes is the identity', ops: ['concat'], inputs: { x: randn(rng, [2, 3]) }, build: ({ x }) => F.concat([F.reduceSum(x, []), F.reduceMean(x, [], true), F.reduceMax(x, [])], 0) },
  { name: 'reduceMax with ties (shared gradient, parity only)', ops: ['reduceMax'], parityOnly: true, inputs: { x: smallInts([2, 3, 4]) }, build: ({ x }) => F.reduceMax(x, [2]) },
  // ONNX Runtime truncates an integer mean toward zero
  { name: 'reduceSum/Mean/Max int64', ops: ['reduceSum', 'reduceMean', 'reduceMax'], parityOnly: true, inputs: { x: i64([2, 3], [1, 2, 2, 0, 0, -1]) }, build: ({ x }) => F.concat([F.reduceSum(x, [1]), F.reduceMean(x, [1]), F.reduceMean(F.neg(x), [1]), F.reduceMax(x, [1])], 0) },
  { name: 'argMax axis 1', ops: ['argMax'], parityOnly: true, inputs: { x: randn(rng, [2, 4, 3]) }, build: ({ x }) => F.argMax(x, 1) },
  { name: 'argMin axis 0 keepDims', ops: ['argMin'], parityOnly: true, inputs: { x: randn(rng, [3, 4]) }, build: ({ x }) => F.argMin(x, 0, true) },
  // with ties both pick the first extremum
  { name: 'argMax/argMin with ties', ops: ['argMax', 'argMin'], parityOnly: true, inputs: { x: smallInts([3, 6]) }, build: ({ x }) => F.add(F.argMax(x, -1), F.mul(F.argMin(x, -1), 10)) },
  { name: 'softmax axis 1 of [2,4,3]', ops: ['softmax'], inputs: { x: randn(rng, [2, 4, 3], 2) }, build: ({ x }) => F.softmax(x, 1) },
  { name: 'softmax last axis', ops: ['softmax'], inputs: { x: randn(rng, [3, 5], 2) }, build: ({ x }) => F.softmax(x) },
  { name: 'logSoftmax axis 0 of [3,2,2]', ops: ['logSoftmax'], inputs: { x: randn(rng, [3, 2, 2], 2) }, build: ({ x }) => F.logSoftmax(x, 0) },
  { name: 'logSoftmax last axis', ops: ['logSoftmax'], inputs: { x: randn(rng, [2, 5], 2) }, build: ({ x }) => F.logSoftmax(x) },
);

const fmt = (v: number) => v.toExponential(1);

/** Ops whose ONNX Runtime CPU kernels are float32 only (no double): float64 parity skips cases using them. */
const FLOAT32_ONLY_IN_ORT: OpName[] = ['erf', 'conv', 'convTranspose', 'upsampleNearest2x', 'dynamicQuantizeMatmul', 'attention', 'instanceNorm'];

/** One line per case, printed together at the end, with the worst of each kind of comparison. */
const REPORT: string[] = [];
const worst = { grad: 0, parity32: 0, parity64: 0 };

describe(`ops: gradients vs finite differences (float64, eps ${FD_EPS}, |Δ| ≤ ${GRAD_ATOL} + ${GRAD_RTOL}·|fd|); ORT vs reference (float32 |Δ| ≤ ${PARITY_ATOL} + ${PARITY_RTOL}·|ref|, float64 |Δ| ≤ ${PARITY64_ATOL} + ${PARITY64_RTOL}·|ref|)`, () => {
  afterAll(() => {
    console.log(
      `${REPORT.join('\n')}\nworst fraction of tolerance used: gradient check ${worst.grad.toFixed(3)}, float32 parity ${worst.parity32.toFixed(3)}, float64 parity ${fmt(worst.parity64)}`,
    );
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const present = opsOf(c);
      for (const op of c.ops) expect(present.has(op), `${c.name}: the graph contains no '${op}' node`).toBe(true);
      const p32 = await parity(c, !c.parityOnly);
      const p64 = FLOAT32_ONLY_IN_ORT.some((op) => present.has(op)) ? null : await parity(c, !c.parityOnly, 'float64');
      const g = c.parityOnly ? null : gradCheck(c);
      const ort = Object.entries(p32.maxAbs).map(([k, v]) => `${k} ${fmt(v)}`).join(', ');
      const line = [
        `${c.name.padEnd(60)} ORT f32 max|Δ| ${ort} (used ${p32.used.toFixed(3)})`,
        p64 ? `f64 used ${fmt(p64.used)}` : 'f64 n/a',
        g ? `fd ${g.count} derivs max|Δ| ${fmt(g.maxAbs)} rel ${fmt(g.maxRel)} (used ${g.used.toFixed(3)})` : 'no gradient',
        `[${p32.onnxOps.join(' ')}]`,
      ];
      REPORT.push(line.join('; '));
      worst.parity32 = Math.max(worst.parity32, p32.used);
      worst.parity64 = Math.max(worst.parity64, p64?.used ?? 0);
      worst.grad = Math.max(worst.grad, g?.used ?? 0);
      expect(p32.problems, `${c.name}: ORT float32 vs reference`).toEqual([]);
      expect(p32.used).toBeLessThanOrEqual(1);
      if (p64) expect(p64.problems, `${c.name}: ORT float64 vs reference`).toEqual([]);
      if (g) expect(g.used, `${c.name}: worst ${g.worst}`).toBeLessThanOrEqual(1);
    });
  }

  it('covers every op in TABLE (gradient check for every differentiable one)', () => {
    const parityOps = new Set(CASES.flatMap((c) => c.ops));
    const gradOps = new Set(CASES.filter((c) => !c.parityOnly).flatMap((c) => c.ops));
    const ops = Object.keys(TABLE) as OpName[];
    expect(ops.filter((op) => !parityOps.has(op)), 'ops without a parity case').toEqual([]);
    expect(ops.filter((op) => TABLE[op].grad !== null && !gradOps.has(op)), 'differentiable ops without a gradient check').toEqual([]);
  });

  it('stopGradient passes values and blocks gradients: d/dx Σ stopGradient(x)·x·R = x·R', () => {
    const g = new Graph();
    const x = g.input('x', [2, 3], 'float64');
    const r = randn(rng, [2, 3]);
    const loss = F.reduceSum(F.mul(F.mul(F.stopGradient(x), x), g.constant(r)));
    const xv = randn(rng, [2, 3]);
    const [dx] = evaluate(g, { x: xv }, grad(loss, [x]));
    const want = xv.data.map((v, i) => v * r.data[i]);
    const err = Math.max(...dx.data.map((v, i) => Math.abs(v - want[i])));
    REPORT.push(`stopGradient: max|dx − x·R| ${fmt(err)} (exact)`);
    expect(err).toBe(0);
  });
});

/** The GraphError message that building `f` throws (fails the test when it builds). */
function buildError(f: (g: Graph) => unknown): string {
  try {
    f(new Graph());
  } catch (e) {
    expect(e).toBeInstanceOf(GraphError);
    return (e as Error).message;
  }
  throw new Error('expected a GraphError at build time, but the graph built');
}

const f32 = (g: Graph, s: Shape) => g.input(`x${g.inputs.size}`, s);
const int = (g: Graph, s: Shape) => g.input(`x${g.inputs.size}`, s, 'int64');
const bool = (g: Graph, s: Shape) => g.input(`x${g.inputs.size}`, s, 'bool');

/** [what is wrong, the build that must fail, words its message must contain]. */
const ERRORS: [string, (g: Graph) => unknown, string[]][] = [
  ['matmul inner dimensions', (g) => F.matmul(f32(g, [2, 3]), f32(g, [4, 5])), ['matmul', '[2,3]', '[4,5]']],
  ['matmul batch axes', (g) => F.matmul(f32(g, [2, 3, 4]), f32(g, [3, 4, 5])), ['matmul', '[2,3,4]', '[3,4,5]']],
  ['matmul dtypes', (g) => F.matmul(f32(g, [2, 3]), int(g, [3, 4])), ['matmul', 'float32', 'int64', '[2,3]', '[3,4]']],
  ['dynamicQuantizeMatmul float weight', (g) => F.dynamicQuantizeMatmul(f32(g, [2, 3]), f32(g, [3, 4]), f32(g, [4])), ['dynamicQuantizeMatmul', 'int8', 'float32[3,4]']],
  ['dynamicQuantizeMatmul scale per column', (g) => F.dynamicQuantizeMatmul(f32(g, [2, 3]), g.input('w', [3, 4], 'int8'), f32(g, [3])), ['dynamicQuantizeMatmul', 'scale', '[4]', 'float32[3]']],
  ['instanceNorm rank', (g) => F.instanceNorm(f32(g, [2, 3]), 1e-5), ['instanceNorm', 'rank ≥ 3']],
  ['attention heads', (g) => F.attention(f32(g, [1, 4, 6]), f32(g, [1, 4, 6]), f32(g, [1, 4, 6]), 4), ['attention', '[1,4,6]', '4 heads']],
  ['add shapes', (g) => F.add(f32(g, [2, 3]), f32(g, [4])), ['add', '[2,3]', '[4]']],
  ['add dtypes', (g) => F.add(f32(g, [2, 3]), int(g, [2, 3])), ['add', 'float32', 'int64']],
  ['mul dtypes with broadcasting', (g) => F.mul(f32(g, [2, 3]), int(g, [3])), ['mul', 'float32', 'int64', '[2,3]', '[3]']],
  ['exp of int64', (g) => F.exp(int(g, [2])), ['exp', 'int64']],
  ['div of int64', (g) => F.div(int(g, [2]), int(g, [2])), ['div', 'int64']],
  ['leakyRelu of int64', (g) => F.leakyRelu(int(g, [2])), ['leakyRelu', 'int64']],
  ['softmax of int64', (g) => F.softmax(int(g, [2, 3])), ['softmax', 'int64']],
  ['conv input channels', (g) => F.conv(f32(g, [1, 2, 5, 5]), f32(g, [4, 3, 3, 3])), ['conv', '[1,2,5,5]', '[4,3,3,3]']],
  ['conv output channels not divisible into groups', (g) => F.conv(f32(g, [1, 4, 5, 5]), f32(g, [3, 2, 3, 3]), { groups: 2 }), ['conv', '[3,2,3,3]', 'groups']],
  ['conv kernel larger than input', (g) => F.conv(f32(g, [1, 2, 2, 2]), f32(g, [4, 2, 3, 3])), ['conv', '[1,2,2,2]', '[4,2,3,3]']],
  ['conv bias not one per output channel', (g) => F.conv(f32(g, [1, 2, 5, 5]), f32(g, [4, 2, 3, 3]), {}, f32(g, [3])), ['conv', 'bias', '[3]', '[4]']],
  ['convTranspose input channels', (g) => F.convTranspose(f32(g, [1, 2, 4, 4]), f32(g, [3, 2, 3, 3]), [4, 4], { pads: [1, 1, 1, 1] }), ['convTranspose', '[1,2,4,4]', '[3,2,3,3]']],
  ['convTranspose unreachable output size', (g) => F.convTranspose(f32(g, [1, 2, 4, 4]), f32(g, [2, 2, 3, 3]), [11, 11], { strides: [2, 2] }), ['convTranspose', '11', '[1,2,4,4]']],
  ['where with a float condition', (g) => F.where(f32(g, [2]), f32(g, [2]), 0), ['where', 'bool', 'float32']],
  ['where condition shape', (g) => F.where(bool(g, [3]), f32(g, [2]), 0), ['where', '[3]', '[2]']],
  ['where with bool branches (no ORT kernel)', (g) => F.where(bool(g, [2]), bool(g, [2]), bool(g, [2])), ['where', 'bool']],
  ['argMax of bool (no ORT kernel)', (g) => F.argMax(bool(g, [2, 3]), 1), ['argMax', 'bool']],
  ['upsampleNearest2x of int64 (no ORT kernel)', (g) => F.upsampleNearest2x(int(g, [1, 1, 2, 2])), ['upsampleNearest2x', 'int64']],
  ['reduceSum of bool', (g) => F.reduceSum(bool(g, [2, 3])), ['reduceSum', 'bool']],
  ['reshape size', (g) => F.reshape(f32(g, [2, 3]), [4, 2]), ['reshape', '[2,3]', '[4,2]']],
  ['expand', (g) => F.expand(f32(g, [2, 3]), [4, 3]), ['expand', '[2,3]', '[4,3]']],
  ['concat off-axis sizes', (g) => F.concat([f32(g, [2, 3]), f32(g, [2, 4])], 0), ['concat', '[2,3]', '[2,4]']],
  ['concat dtypes', (g) => F.concat([f32(g, [2, 3]), int(g, [2, 3])], 0), ['concat', 'float32', 'int64']],
  ['transpose perm', (g) => F.transpose(f32(g, [2, 3]), [0, 0]), ['transpose', '[2,3]']],
  ['gather float indices', (g) => F.gather(f32(g, [4, 3]), f32(g, [2])), ['gather', 'int64', 'float32']],
  ['gatherElements rank', (g) => F.gatherElements(f32(g, [4, 3]), int(g, [2]), 0), ['gatherElements', '[2]', '[4,3]']],
  ['scatterAdd updates shape', (g) => F.scatterAdd(f32(g, [4, 3]), int(g, [2]), f32(g, [2, 4])), ['scatterAdd', '[2,4]', '[2,3]']],
  ['scatterElementsAdd updates dtype', (g) => F.scatterElementsAdd(f32(g, [3, 4]), int(g, [3, 2]), int(g, [3, 2]), 1), ['scatterElementsAdd', 'float32', 'int64']],
  ['scatterElementsAdd indices past data off the axis', (g) => F.scatterElementsAdd(f32(g, [3, 4]), int(g, [4, 2]), f32(g, [4, 2]), 1), ['scatterElementsAdd', '[4,2]', '[3,4]']],
  ['oneHot float indices', (g) => F.oneHot(f32(g, [3]), 4), ['oneHot', 'int64', 'float32']],
  ['axis out of range', (g) => F.softmax(f32(g, [2, 3]), 2), ['softmax', 'axis 2', 'rank 2']],
];

describe('build-time errors name the op and the offending shapes or dtypes, in one line', () => {
  const messages: string[] = [];
  afterAll(() => console.log(messages.join('\n')));
  for (const [what, f, words] of ERRORS) {
    it(what, () => {
      const msg = buildError(f);
      messages.push(`${what.padEnd(50)} ${msg}`);
      for (const w of words) expect(msg, `message lacks '${w}'`).toContain(w);
      expect(msg, 'one line').not.toContain('\n');
      // the op is named once, by the function that was called, not again by its ONNX name
      expect(msg, 'op named twice').not.toMatch(/^(\w+): \1:/i);
    });
  }
});
