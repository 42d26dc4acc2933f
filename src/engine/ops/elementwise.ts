// Elementwise ops with NumPy broadcasting, and unary math.
import { type DType, GraphError, type Tensor, fmtShape } from '../graph.ts';
import { type NDArray, broadcastShapes, broadcastStrides, forEachIndex, nd, roundTo } from '../ndarray.ts';
import type { Builders, OpRule, TType } from './types.ts';

type None = Record<string, never>;
const NUMERIC: DType[] = ['float32', 'float64', 'int64'];
const FLOAT: DType[] = ['float32', 'float64'];

function broadcastType(op: string, ins: TType[], allowed: DType[], out?: DType): TType {
  const dtype = ins[0].dtype;
  for (const t of ins) {
    if (t.dtype !== dtype) throw new GraphError(`${op}: dtypes differ: ${ins.map((x) => x.dtype).join(' vs ')}`);
  }
  if (!allowed.includes(dtype)) throw new GraphError(`${op}: unsupported dtype ${dtype} (supports ${allowed.join(', ')})`);
  let shape: number[] | null = [...ins[0].shape];
  for (const t of ins.slice(1)) shape = shape && broadcastShapes(shape, t.shape);
  if (!shape) throw new GraphError(`${op}: shapes ${ins.map((t) => fmtShape(t.shape)).join(' and ')} do not broadcast`);
  return { shape, dtype: out ?? dtype };
}

export function evalBroadcast(ins: NDArray[], out: TType, f: (...v: number[]) => number): NDArray {
  const r = nd(out.shape, out.dtype);
  const strides = ins.map((x) => broadcastStrides(x.shape, out.shape));
  const vals = new Array<number>(ins.length);
  forEachIndex(out.shape, strides, (i, offs) => {
    for (let k = 0; k < ins.length; k++) vals[k] = ins[k].data[offs[k]];
    r.data[i] = roundTo(out.dtype, f(...vals));
  });
  return r;
}

function binaryRule(
  onnxOp: string,
  f: (a: number, b: number) => number,
  grad: OpRule<None>['grad'],
  allowed: DType[] = NUMERIC,
  out?: DType,
): OpRule<None> {
  return {
    type: (ins) => broadcastType(onnxOp, ins, allowed, out),
    onnx: (e, ins, o) => e.node(onnxOp, ins, [o]),
    eval: (ins, _a, t) => evalBroadcast(ins, t, f),
    grad,
  };
}

function unaryRule(
  onnxOp: string,
  f: (x: number) => number,
  grad: OpRule<None>['grad'],
  allowed: DType[] = FLOAT,
): OpRule<None> {
  return {
    type: ([x]) => {
      if (!allowed.includes(x.dtype)) throw new GraphError(`${onnxOp}: unsupported dtype ${x.dtype} (supports ${allowed.join(', ')})`);
      return x;
    },
    onnx: (e, ins, o) => e.node(onnxOp, ins, [o]),
    eval: ([x], _a, t) => evalBroadcast([x], t, f),
    grad,
  };
}

const ub = (F: Builders, g: Tensor, x: Tensor) => F.unbroadcast(g, x.shape);

/** Whether `t` is a graph constant holding the single value `v`. */
const isConstant = (t: Tensor, v: number) => t.source.kind === 'const' && t.size === 1 && t.source.value.data[0] === v;

export const add = binaryRule('Add', (a, b) => a + b, (g, { inputs: [a, b], F }) => [ub(F, g, a), ub(F, g, b)]);
export const sub = binaryRule('Sub', (a, b) => a - b, (g, { inputs: [a, b], F }) => [ub(F, g, a), F.neg(ub(F, g, b))]);
// d(ab) = b da + a db
export const mul = binaryRule('Mul', (a, b) => a * b, (g, { inputs: [a, b], needs, F }) => [
  needs[0] ? ub(F, F.mul(g, b), a) : null,
  needs[1] ? ub(F, F.mul(g, a), b) : null,
]);
// d(a/b) = da/b − a db/b² = da/b − y db/b; for a broadcast b, Σ g·y is taken before dividing by b.
export const div = binaryRule(
  'Div',
  (a, b) => a / b,
  (g, { inputs: [a, b], output: y, needs, F }) => [
    needs[0] ? ub(F, F.div(g, b), a) : null,
    needs[1] ? F.neg(F.div(ub(F, F.mul(g, y), b), b)) : null,
  ],
  FLOAT,
);
// d(aᵇ) = b·aᵇ⁻¹ da + ln(a)·aᵇ db; for the constant exponent 2 (a square), b·a¹ without a Pow.
export const pow = binaryRule(
  'Pow',
  (a, b) => Math.pow(a, b),
  (g, { inputs: [a, b], output: y, needs, F }) => [
    needs[0] ? ub(F, F.mul(g, isConstant(b, 2) ? F.mul(a, 2) : F.mul(b, F.pow(a, F.sub(b, 1)))), a) : null,
    needs[1] ? ub(F, F.mul(g, F.mul(F.log(a), y)), b) : null,
  ],
  FLOAT,
);
// The larger input takes the gradient; ties go to the first.
export const max = binaryRule('Max', Math.max, (g, { inputs: [a, b], needs, F }) => {
  const first = F.cast(F.less(F.expand(b, g.shape), a), g.dtype);
  const tie = F.cast(F.equal(F.expand(b, g.shape), a), g.dtype);
  const ga = F.mul(g, F.add(first, tie));
  return [needs[0] ? ub(F, ga, a) : null, needs[1] ? ub(F, F.sub(g, ga), b) : null];
});
export const min = binaryRule('Min', Math.min, (g, { inputs: [a, b], needs, F }) => {
  const first = F.cast(F.less(F.expand(a, g.shape), b), g.dtype);
  const tie = F.cast(F.equal(F.expand(a, g.shape), b), g.dtype);
  const ga = F.mul(g, F.add(first, tie));
  return [needs[0] ? ub(F, ga, a) : null, needs[1] ? ub(F, F.sub(g, ga), b) : null];
});
export const equal = binaryRule('Equal', (a, b) => +(a === b), null, [...NUMERIC, 'bool'], 'bool');
export const less = binaryRule('Less', (a, b) => +(a < b), null, NUMERIC, 'bool');
export const greater = binaryRule('Greater', (a, b) => +(a > b), null, NUMERIC, 'bool');

export const where: OpRule<None> = {
  type: ([c, a, b]) => {
    if (c.dtype !== 'bool') throw new GraphError(`where: condition must be bool, got ${c.dtype}`);
    // no bool branches: ONNX Runtime's CPU Where has no bool kernel
    const t = broadcastType('where', [a, b], NUMERIC);
    const shape = broadcastShapes(c.shape, t.shape);
    if (!shape) throw new GraphError(`where: condition ${fmtShape(c.shape)} does not broadcast with ${fmtShape(t.shape)}`);
    return { shape, dtype: t.dtype };
  },
  onnx: (e, ins, o) => e.node('Where', ins, [o]),
  eval: (ins, _a, t) => evalBroadcast(ins, t, (c, a, b) => (c ? a : b)),
  grad: (g, { inputs: [c, a, b], needs, F }) => [
    null,
    needs[1] ? ub(F, F.where(c, g, 0), a) : null,
    needs[2] ? ub(F, F.where(c, 0, g), b) : null,
  ],
};

export const neg = unaryRule('Neg', (x) => -x, (g, { F }) => [F.neg(g)], NUMERIC);
export const exp = unaryRule('Exp', Math.exp, (g, { output: y, F }) => [F.mul(g, y)]);
export const log = unaryRule('Log', Math.log, (g, { inputs: [x], F }) => [F.div(g, x)]);
// d√x = 1 / (2√x)
export const sqrt = unaryRule('Sqrt', Math.sqrt, (g, { output: y, F }) => [F.div(F.mul(g, 0.5), y)]);
export const abs = unaryRule('Abs', Math.abs, (g, { inputs: [x], F }) => [F.mul(g, F.sign(x))], NUMERIC);
export const sign = unaryRule('Sign', Math.sign, null, NUMERIC);
// d erf(x) = 2/√π · exp(−x²)
export const erf = unaryRule('Erf', erfApprox, (g, { inputs: [x], F }) => [
  F.mul(g, F.mul(F.exp(F.neg(F.square(x))), 2 / Math.sqrt(Math.PI))),
]);
// dσ = σ(1 − σ)
export const sigmoid = unaryRule('Sigmoid', (x) => 1 / (1 + Math.exp(-x)), (g, { output: y, F }) => [
  F.mul(g, F.mul(y, F.sub(1, y))),
]);
export const tanh = unaryRule('Tanh', Math.tanh, (g, { output: y, F }) => [F.mul(g, F.sub(1, F.square(y)))]);
export const relu = unaryRule('Relu', (x) => Math.max(x, 0), (g, { inputs: [x], F }) => [
  F.where(F.greater(x, 0), g, 0),
]);

export const leakyRelu: OpRule<{ alpha: number }> = {
  type: ([x]) => {
    if (!FLOAT.includes(x.dtype)) throw new GraphError(`LeakyRelu: unsupported dtype ${x.dtype}`);
    return x;
  },
  onnx: (e, ins, o, a) => e.node('LeakyRelu', ins, [o], { alpha: { float: a.alpha } }),
  // ONNX stores alpha as a float32 attribute, so float64 graphs use the rounded slope too
  eval: ([x], a, t) => evalBroadcast([x], t, (v) => (v >= 0 ? v : Math.fround(a.alpha) * v)),
  grad: (g, { inputs: [x], attrs, F }) => [F.where(F.greater(x, 0), g, F.mul(g, Math.fround(attrs.alpha)))],
};

export const cast: OpRule<{ to: DType }> = {
  type: ([x], a) => ({ shape: x.shape, dtype: a.to }),
  onnx: (e, ins, o, a) => e.node('Cast', ins, [o], { to: ONNX_CAST[a.to] }),
  eval: ([x], _a, t) => evalBroadcast([x], t, (v) => v),
  // A cast between float types passes the gradient through; casts from ints or bools have none.
  grad: (g, { inputs: [x], F }) => [FLOAT.includes(x.dtype) ? F.cast(g, x.dtype) : null],
};
/** ONNX TensorProto data type numbers, for Cast's `to`. */
export const ONNX_CAST: Record<DType, number> = { float32: 1, int64: 7, bool: 9, float64: 11, int8: 3 };

export const stopGradient: OpRule<None> = {
  type: ([x]) => x,
  onnx: (e, ins, o) => e.node('Identity', ins, [o]),
  eval: ([x]) => ({ ...x, data: x.data.slice() }),
  grad: null,
};

/** erf to near double precision: Maclaurin series for |x| < 2.5, erfc's continued fraction beyond. */
export function erfApprox(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Maclaurin series: erf x = 2/√π Σ (−1)ⁿ x^(2n+1) / (n! (2n+1))
    let sum = 0;
    let term = ax;
    for (let n = 0; n < 80; n++) {
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
      term *= (-ax * ax) / (n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // Continued fraction for erfc, accurate for large |x|.
  let f = 0;
  for (let k = 60; k >= 1; k--) f = (k / 2) / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}

