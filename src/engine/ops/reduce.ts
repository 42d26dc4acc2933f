// Reductions over axes, arg-extrema and (log-)softmax.
import { GraphError, type Tensor, fmtShape, sizeOf } from '../graph.ts';
import { type NDArray, nd, roundTo, stridesOf, unravel } from '../ndarray.ts';
import type { Builders, OpRule, TType } from './types.ts';

type ReduceAttrs = { axes: number[]; keepDims: boolean };

function reducedShape(shape: readonly number[], axes: number[], keep: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keep) out.push(1);
  });
  return out;
}

/** Folds each reduced group with `f`, starting from `init`; `finish` maps (acc, count). */
function evalReduce(x: NDArray, axes: number[], out: TType, init: number, f: (acc: number, v: number) => number, finish = (acc: number, _n: number) => acc): NDArray {
  const keepShape = reducedShape(x.shape, axes, true);
  const r = nd(out.shape, out.dtype);
  r.data.fill(init);
  const ks = stridesOf(keepShape);
  const count = sizeOf(x.shape) / Math.max(1, sizeOf(keepShape));
  for (let i = 0; i < x.data.length; i++) {
    const pos = unravel(i, x.shape);
    let o = 0;
    for (let d = 0; d < pos.length; d++) if (!axes.includes(d)) o += pos[d] * ks[d];
    r.data[o] = f(r.data[o], x.data[i]);
  }
  for (let i = 0; i < r.data.length; i++) r.data[i] = finish(r.data[i], count);
  return r;
}

function reduceType(op: string, x: TType, a: ReduceAttrs): TType {
  if (x.dtype === 'bool') throw new GraphError(`${op}: unsupported dtype bool`);
  return { shape: reducedShape(x.shape, a.axes, a.keepDims), dtype: x.dtype };
}

/** g broadcast back over the reduced axes of x. */
function spread(F: Builders, g: Tensor, x: Tensor, axes: number[]): Tensor {
  return F.expand(F.reshape(g, reducedShape(x.shape, axes, true)), x.shape);
}

export const reduceSum: OpRule<ReduceAttrs> = {
  type: ([x], a) => reduceType('reduceSum', x, a),
  onnx: (e, [x], o, a) => e.node('ReduceSum', [x, e.constI64(a.axes)], [o], { keepdims: a.keepDims ? 1 : 0 }),
  eval: ([x], a, t) => evalReduce(x, a.axes, t, 0, (s, v) => s + v),
  grad: (g, { inputs: [x], attrs, F }) => [spread(F, g, x, attrs.axes)],
};

export const reduceMean: OpRule<ReduceAttrs> = {
  type: ([x], a) => reduceType('reduceMean', x, a),
  onnx: (e, ins, o, a) => e.node('ReduceMean', ins, [o], { axes: a.axes, keepdims: a.keepDims ? 1 : 0 }),
  // an integer mean truncates toward zero, as in ONNX Runtime
  eval: ([x], a, t) => evalReduce(x, a.axes, t, 0, (s, v) => s + v, (s, n) => roundTo(t.dtype, s / n)),
  grad: (g, { inputs: [x], attrs, F }) => {
    const n = sizeOf(attrs.axes.map((ax) => x.shape[ax]));
    return [spread(F, F.div(g, n), x, attrs.axes)];
  },
};

export const reduceMax: OpRule<ReduceAttrs> = {
  type: ([x], a) => reduceType('reduceMax', x, a),
  onnx: (e, ins, o, a) => e.node('ReduceMax', ins, [o], { axes: a.axes, keepdims: a.keepDims ? 1 : 0 }),
  eval: ([x], a, t) => evalReduce(x, a.axes, t, -Infinity, Math.max),
  // The gradient is shared equally among the positions that attain the maximum.
  grad: (g, { inputs: [x], output: y, attrs, F }) => {
    const hit = F.cast(F.equal(x, spread(F, y, x, attrs.axes)), x.dtype);
    const ties = F.reduceSum(hit, attrs.axes, true);
    return [F.mul(spread(F, g, x, attrs.axes), F.div(hit, ties))];
  },
};

type ArgAttrs = { axis: number; keepDims: boolean };

function argRule(onnxOp: string, better: (v: number, best: number) => boolean): OpRule<ArgAttrs> {
  return {
    type: ([x], a) => {
      // no bool kernel in ONNX Runtime's ArgMax/ArgMin
      if (x.dtype === 'bool') throw new GraphError(`${onnxOp}: unsupported dtype bool`);
      return { shape: reducedShape(x.shape, [a.axis], a.keepDims), dtype: 'int64' };
    },
    onnx: (e, ins, o, a) => e.node(onnxOp, ins, [o], { axis: a.axis, keepdims: a.keepDims ? 1 : 0 }),
    eval: ([x], a, t) => {
      const r = nd(t.shape, 'int64');
      const k = x.shape[a.axis];
      const inner = sizeOf(x.shape.slice(a.axis + 1));
      const outer = sizeOf(x.shape.slice(0, a.axis));
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < inner; i++) {
          let best = 0;
          for (let j = 1; j < k; j++) if (better(x.data[(o * k + j) * inner + i], x.data[(o * k + best) * inner + i])) best = j;
          r.data[o * inner + i] = best;
        }
      return r;
    },
    grad: null,
  };
}

export const argMax = argRule('ArgMax', (v, b) => v > b);
export const argMin = argRule('ArgMin', (v, b) => v < b);

function evalSoftmax(x: NDArray, axis: number, t: TType, logOut: boolean): NDArray {
  const r = nd(t.shape, t.dtype);
  const k = x.shape[axis];
  const inner = sizeOf(x.shape.slice(axis + 1));
  const outer = sizeOf(x.shape.slice(0, axis));
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const at = (j: number) => (o * k + j) * inner + i;
      let m = -Infinity;
      for (let j = 0; j < k; j++) m = Math.max(m, x.data[at(j)]);
      let s = 0;
      for (let j = 0; j < k; j++) s += Math.exp(x.data[at(j)] - m);
      for (let j = 0; j < k; j++) r.data[at(j)] = logOut ? x.data[at(j)] - m - Math.log(s) : Math.exp(x.data[at(j)] - m) / s;
    }
  return r;
}

function floatOnly(op: string, x: TType): TType {
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new GraphError(`${op}: unsupported dtype ${x.dtype}`);
  return x;
}

export const softmax: OpRule<{ axis: number }> = {
  type: ([x]) => floatOnly('softmax', x),
  onnx: (e, ins, o, a) => e.node('Softmax', ins, [o], { axis: a.axis }),
  eval: ([x], a, t) => evalSoftmax(x, a.axis, t, false),
  // dx = y ⊙ (g − Σ g⊙y)
  grad: (g, { output: y, attrs, F }) => [F.mul(y, F.sub(g, F.reduceSum(F.mul(g, y), [attrs.axis], true)))],
};

export const logSoftmax: OpRule<{ axis: number }> = {
  type: ([x]) => floatOnly('logSoftmax', x),
  onnx: (e, ins, o, a) => e.node('LogSoftmax', ins, [o], { axis: a.axis }),
  eval: ([x], a, t) => evalSoftmax(x, a.axis, t, true),
  // dx = g − softmax(x)·Σ g
  grad: (g, { output: y, attrs, F }) => [F.sub(g, F.mul(F.exp(y), F.reduceSum(g, [attrs.axis], true)))],
};

/**
 * (x − mean) / √(var + eps) over all axes after the first two of x [N, C, …], per (n, c), with the
 * biased variance: ONNX InstanceNormalization with unit scale and zero shift, one kernel instead of
 * five full passes. Inference only: no gradient rule (training graphs normalise with primitives).
 */
export const instanceNorm: OpRule<{ eps: number }> = {
  type: ([x]) => {
    if (x.shape.length < 3) throw new GraphError(`instanceNorm: needs [N, C, …] of rank ≥ 3, got ${x.dtype}${fmtShape(x.shape)}`);
    return floatOnly('instanceNorm', x);
  },
  onnx: (e, [x], o, a, [t]) => {
    const c = t.shape[1];
    e.node('InstanceNormalization', [x, e.constOf([c], t.dtype, new Array(c).fill(1)), e.constOf([c], t.dtype, new Array(c).fill(0))], [o], { epsilon: { float: a.eps } });
  },
  eval: ([x], a, t) => {
    const r = nd(t.shape, t.dtype);
    const [n, c] = x.shape;
    const len = sizeOf(x.shape.slice(2));
    const eps = Math.fround(a.eps); // ONNX carries epsilon as a float32 attribute
    for (let i = 0; i < n * c; i++) {
      let mean = 0;
      for (let j = 0; j < len; j++) mean += x.data[i * len + j];
      mean /= len;
      let v = 0;
      for (let j = 0; j < len; j++) v += (x.data[i * len + j] - mean) ** 2;
      const inv = 1 / Math.sqrt(v / len + eps);
      for (let j = 0; j < len; j++) r.data[i * len + j] = roundTo(t.dtype, (x.data[i * len + j] - mean) * inv);
    }
    return r;
  },
  grad: null,
};
