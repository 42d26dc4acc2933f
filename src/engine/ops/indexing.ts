// Integer-indexed reads and accumulating writes: gather, gatherElements, their scatter-add duals, one-hot.
import { type DType, GraphError, fmtShape, sizeOf } from '../graph.ts';
import { nd, stridesOf, unravel } from '../ndarray.ts';
import { ONNX_CAST } from './elementwise.ts';
import type { OpRule, TType } from './types.ts';

type None = Record<string, never>;

function needIndices(op: string, t: TType): void {
  if (t.dtype !== 'int64') throw new GraphError(`${op}: indices must be int64, got ${t.dtype}`);
}

function checkIndex(op: string, v: number, size: number): number {
  if (v < -size || v >= size) throw new GraphError(`${op}: index ${v} out of range [0, ${size})`);
  return v < 0 ? v + size : v;
}

export const gather: OpRule<{ axis: number }> = {
  type: ([x, idx], a) => {
    needIndices('gather', idx);
    return { shape: [...x.shape.slice(0, a.axis), ...idx.shape, ...x.shape.slice(a.axis + 1)], dtype: x.dtype };
  },
  onnx: (e, ins, o, a) => e.node('Gather', ins, [o], { axis: a.axis }),
  eval: ([x, idx], a, t) => {
    const r = nd(t.shape, t.dtype);
    const outer = sizeOf(x.shape.slice(0, a.axis));
    const inner = sizeOf(x.shape.slice(a.axis + 1));
    const k = x.shape[a.axis];
    const m = idx.data.length;
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < m; i++) {
        const row = checkIndex('gather', idx.data[i], k);
        r.data.set(x.data.subarray((o * k + row) * inner, (o * k + row + 1) * inner), (o * m + i) * inner);
      }
    return r;
  },
  // Rows read several times accumulate their gradients: a scatter-add into zeros along the axis.
  grad: (g, { inputs: [x, idx], attrs, F }) => {
    const ax = attrs.axis;
    const pre = [...Array(ax).keys()];
    const idxAxes = [...Array(idx.rank).keys()].map((i) => ax + i);
    const post = [...Array(x.rank - ax - 1).keys()].map((i) => ax + idx.rank + i);
    const gFirst = F.transpose(g, [...idxAxes, ...pre, ...post]); // [idx..., pre..., post...]
    const xFirst = [x.shape[ax], ...x.shape.slice(0, ax), ...x.shape.slice(ax + 1)];
    const summed = F.scatterAdd(F.zeros(x, xFirst), idx, gFirst);
    const back = [...Array(x.rank).keys()].map((i) => (i < ax ? i + 1 : i === ax ? 0 : i));
    return [F.transpose(summed, back), null];
  },
};

export const gatherElements: OpRule<{ axis: number }> = {
  type: ([x, idx], a) => {
    needIndices('gatherElements', idx);
    if (idx.shape.length !== x.shape.length) throw new GraphError(`gatherElements: indices ${fmtShape(idx.shape)} must have the rank of data ${fmtShape(x.shape)}`);
    idx.shape.forEach((d, i) => {
      if (i !== a.axis && d > x.shape[i]) throw new GraphError(`gatherElements: indices ${fmtShape(idx.shape)} exceed data ${fmtShape(x.shape)} on axis ${i}`);
    });
    return { shape: idx.shape, dtype: x.dtype };
  },
  onnx: (e, ins, o, a) => e.node('GatherElements', ins, [o], { axis: a.axis }),
  eval: ([x, idx], a, t) => {
    const r = nd(t.shape, t.dtype);
    const xs = stridesOf(x.shape);
    for (let i = 0; i < idx.data.length; i++) {
      const pos = unravel(i, idx.shape);
      pos[a.axis] = checkIndex('gatherElements', idx.data[i], x.shape[a.axis]);
      r.data[i] = x.data[pos.reduce((acc, p, d) => acc + p * xs[d], 0)];
    }
    return r;
  },
  grad: (g, { inputs: [x, idx], attrs, F }) => [F.scatterElementsAdd(F.zeros(x, x.shape), idx, g, attrs.axis), null],
};

export const scatterAdd: OpRule<None> = {
  type: ([data, idx, upd]) => {
    needIndices('scatterAdd', idx);
    const want = [...idx.shape, ...data.shape.slice(1)];
    if (fmtShape(upd.shape) !== fmtShape(want) || upd.dtype !== data.dtype) {
      throw new GraphError(`scatterAdd: updates ${fmtShape(upd.shape)} must be ${fmtShape(want)} (indices ${fmtShape(idx.shape)}, data ${fmtShape(data.shape)})`);
    }
    return data;
  },
  onnx: (e, [data, idx, upd], o, _a, [, it]) => {
    const idx1 = e.tmp('idx');
    e.node('Reshape', [idx, e.constI64([...it.shape, 1])], [idx1]);
    e.node('ScatterND', [data, idx1, upd], [o], { reduction: 'add' });
  },
  eval: ([data, idx, upd], _a, t) => {
    const r = nd(t.shape, t.dtype, data.data);
    const inner = sizeOf(data.shape.slice(1));
    for (let i = 0; i < idx.data.length; i++) {
      const row = checkIndex('scatterAdd', idx.data[i], data.shape[0]);
      for (let j = 0; j < inner; j++) r.data[row * inner + j] += upd.data[i * inner + j];
    }
    return r;
  },
  grad: (g, { inputs: [, idx], needs, F }) => [needs[0] ? g : null, null, needs[2] ? F.gather(g, idx, 0) : null],
};

export const scatterElementsAdd: OpRule<{ axis: number }> = {
  type: ([data, idx, upd], a) => {
    needIndices('scatterElementsAdd', idx);
    if (fmtShape(upd.shape) !== fmtShape(idx.shape) || idx.shape.length !== data.shape.length) {
      throw new GraphError(`scatterElementsAdd: updates ${fmtShape(upd.shape)} and indices ${fmtShape(idx.shape)} must match, with the rank of data ${fmtShape(data.shape)}`);
    }
    if (idx.shape.some((d, i) => i !== a.axis && d > data.shape[i])) {
      throw new GraphError(`scatterElementsAdd: indices ${fmtShape(idx.shape)} exceed data ${fmtShape(data.shape)} off axis ${a.axis}`);
    }
    if (upd.dtype !== data.dtype) throw new GraphError(`scatterElementsAdd: updates are ${upd.dtype}, data ${data.dtype}`);
    return data;
  },
  onnx: (e, ins, o, a) => e.node('ScatterElements', ins, [o], { axis: a.axis, reduction: 'add' }),
  eval: ([data, idx, upd], a, t) => {
    const r = nd(t.shape, t.dtype, data.data);
    const ds = stridesOf(data.shape);
    for (let i = 0; i < idx.data.length; i++) {
      const pos = unravel(i, idx.shape);
      pos[a.axis] = checkIndex('scatterElementsAdd', idx.data[i], data.shape[a.axis]);
      r.data[pos.reduce((acc, p, d) => acc + p * ds[d], 0)] += upd.data[i];
    }
    return r;
  },
  grad: (g, { inputs: [, idx], attrs, needs, F }) => [needs[0] ? g : null, null, needs[2] ? F.gatherElements(g, idx, attrs.axis) : null],
};

export const oneHot: OpRule<{ depth: number; dtype: DType }> = {
  type: ([idx], a) => {
    needIndices('oneHot', idx);
    return { shape: [...idx.shape, a.depth], dtype: a.dtype };
  },
  onnx: (e, [idx], o, a, [it]) => {
    const col = e.tmp('col');
    const hit = e.tmp('hit');
    e.node('Reshape', [idx, e.constI64([...it.shape, 1])], [col]);
    e.node('Equal', [col, e.constOf([a.depth], 'int64', [...Array(a.depth).keys()])], [hit]);
    e.node('Cast', [hit], [o], { to: ONNX_CAST[a.dtype] });
  },
  eval: ([idx], a, t) => {
    const r = nd(t.shape, t.dtype);
    for (let i = 0; i < idx.data.length; i++) {
      const v = idx.data[i];
      if (v >= 0 && v < a.depth) r.data[i * a.depth + v] = 1;
    }
    return r;
  },
  grad: null,
};

