// Ops that move data without arithmetic: reshape, transpose, expand, concat, slice, pad, upsample.
import { GraphError, fmtShape, sizeOf } from '../graph.ts';
import { type NDArray, broadcastShapes, broadcastStrides, forEachIndex, nd, stridesOf } from '../ndarray.ts';
import type { OpRule } from './types.ts';

type None = Record<string, never>;

/** Copies `x` read through per-output-axis strides and a base offset (views: transpose, slice, expand). */
function gatherView(x: NDArray, outShape: readonly number[], strides: number[], base = 0): NDArray {
  const r = nd(outShape, x.dtype);
  forEachIndex(outShape, [strides], (i, [off]) => {
    r.data[i] = x.data[base + off];
  });
  return r;
}

export const reshape: OpRule<{ shape: number[] }> = {
  type: ([x], a) => {
    if (sizeOf(a.shape) !== sizeOf(x.shape)) throw new GraphError(`reshape: cannot reshape ${fmtShape(x.shape)} to ${fmtShape(a.shape)}`);
    return { shape: a.shape, dtype: x.dtype };
  },
  onnx: (e, [x], o, a) => e.node('Reshape', [x, e.constI64(a.shape)], [o]),
  eval: ([x], a) => ({ shape: a.shape, dtype: x.dtype, data: x.data.slice() }),
  grad: (g, { inputs: [x], F }) => [F.reshape(g, x.shape)],
};

export const transpose: OpRule<{ perm: number[] }> = {
  type: ([x], a) => {
    const ok = a.perm.length === x.shape.length && [...a.perm].sort((p, q) => p - q).every((p, i) => p === i);
    if (!ok) throw new GraphError(`transpose: perm [${a.perm}] is not a permutation of the axes of ${fmtShape(x.shape)}`);
    return { shape: a.perm.map((p) => x.shape[p]), dtype: x.dtype };
  },
  onnx: (e, ins, o, a) => e.node('Transpose', ins, [o], { perm: a.perm }),
  eval: ([x], a, t) => {
    const s = stridesOf(x.shape);
    return gatherView(x, t.shape, a.perm.map((p) => s[p]));
  },
  grad: (g, { attrs, F }) => {
    const inv = new Array<number>(attrs.perm.length);
    attrs.perm.forEach((p, i) => (inv[p] = i));
    return [F.transpose(g, inv)];
  },
};

export const expand: OpRule<{ shape: number[] }> = {
  type: ([x], a) => {
    const s = broadcastShapes(x.shape, a.shape);
    if (!s || fmtShape(s) !== fmtShape(a.shape)) throw new GraphError(`expand: cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(a.shape)}`);
    return { shape: a.shape, dtype: x.dtype };
  },
  onnx: (e, [x], o, a) => e.node('Expand', [x, e.constI64(a.shape)], [o]),
  eval: ([x], _a, t) => gatherView(x, t.shape, broadcastStrides(x.shape, t.shape)),
  grad: (g, { inputs: [x], F }) => [F.unbroadcast(g, x.shape)],
};

export const concat: OpRule<{ axis: number }> = {
  type: (ins, a) => {
    const first = ins[0];
    let total = 0;
    for (const t of ins) {
      const same = t.shape.length === first.shape.length && t.shape.every((d, i) => i === a.axis || d === first.shape[i]);
      if (!same || t.dtype !== first.dtype) {
        throw new GraphError(`concat: inputs ${ins.map((x) => `${x.dtype}${fmtShape(x.shape)}`).join(', ')} differ off axis ${a.axis}`);
      }
      total += t.shape[a.axis];
    }
    const shape = [...first.shape];
    shape[a.axis] = total;
    return { shape, dtype: first.dtype };
  },
  onnx: (e, ins, o, a) => e.node('Concat', ins, [o], { axis: a.axis }),
  eval: (ins, a, t) => {
    const r = nd(t.shape, t.dtype);
    const outer = sizeOf(t.shape.slice(0, a.axis));
    const inner = sizeOf(t.shape.slice(a.axis + 1));
    let pos = 0;
    for (const x of ins) {
      const chunk = x.shape[a.axis] * inner;
      for (let o = 0; o < outer; o++) r.data.set(x.data.subarray(o * chunk, (o + 1) * chunk), o * t.shape[a.axis] * inner + pos);
      pos += chunk;
    }
    return r;
  },
  grad: (g, { inputs, attrs, needs, F }) => {
    let start = 0;
    return inputs.map((x, i) => {
      const s = start;
      start += x.shape[attrs.axis];
      return needs[i] ? F.slice(g, [attrs.axis], [s], [start]) : null;
    });
  },
};

type SliceAttrs = { starts: number[]; ends: number[]; axes: number[]; steps: number[] };

function sliceShape(shape: readonly number[], a: SliceAttrs): number[] {
  const out = [...shape];
  a.axes.forEach((ax, i) => {
    out[ax] = Math.max(0, Math.ceil((a.ends[i] - a.starts[i]) / a.steps[i]));
  });
  return out;
}

export const slice: OpRule<SliceAttrs> = {
  type: ([x], a) => {
    a.axes.forEach((ax, i) => {
      if (a.starts[i] < 0 || a.starts[i] > x.shape[ax] || a.steps[i] < 1) {
        throw new GraphError(`slice: start ${a.starts[i]} / step ${a.steps[i]} invalid on axis ${ax} of ${fmtShape(x.shape)}`);
      }
    });
    return { shape: sliceShape(x.shape, a), dtype: x.dtype };
  },
  onnx: (e, [x], o, a) => e.node('Slice', [x, e.constI64(a.starts), e.constI64(a.ends), e.constI64(a.axes), e.constI64(a.steps)], [o]),
  eval: ([x], a, t) => {
    const s = stridesOf(x.shape);
    const strides = [...s];
    let base = 0;
    a.axes.forEach((ax, i) => {
      base += a.starts[i] * s[ax];
      strides[ax] = s[ax] * a.steps[i];
    });
    return gatherView(x, t.shape, strides, base);
  },
  // The gradient places g back where the slice read it: interleave zeros for steps > 1, then pad.
  grad: (g, { inputs: [x], attrs, F }) => {
    let r = g;
    const pads = new Array<number>(2 * x.rank).fill(0);
    attrs.axes.forEach((ax, i) => {
      const step = attrs.steps[i];
      const n = r.shape[ax];
      if (step > 1 && n > 0) {
        const widened = F.pad(F.unsqueeze(r, ax + 1), padAt(r.rank + 1, ax + 1, 0, step - 1));
        const s = [...r.shape];
        s[ax] = n * step;
        r = F.reshape(widened, s);
      }
      const used = r.shape[ax];
      pads[ax] = attrs.starts[i];
      pads[x.rank + ax] = x.shape[ax] - attrs.starts[i] - used;
      if (pads[x.rank + ax] < 0) {
        // the interleaved tail overran the input: crop it
        r = F.slice(r, [ax], [0], [x.shape[ax] - attrs.starts[i]]);
        pads[x.rank + ax] = 0;
      }
    });
    return [F.pad(r, pads)];
  },
};

function padAt(rank: number, axis: number, before: number, after: number): number[] {
  const p = new Array<number>(2 * rank).fill(0);
  p[axis] = before;
  p[rank + axis] = after;
  return p;
}

export const pad: OpRule<{ pads: number[]; value: number }> = {
  type: ([x], a) => {
    if (a.pads.length !== 2 * x.shape.length || a.pads.some((p) => p < 0)) {
      throw new GraphError(`pad: pads [${a.pads}] must be ${2 * x.shape.length} non-negative numbers for ${fmtShape(x.shape)}`);
    }
    return { shape: x.shape.map((d, i) => d + a.pads[i] + a.pads[i + x.shape.length]), dtype: x.dtype };
  },
  onnx: (e, [x], o, a, [t]) => e.node('Pad', [x, e.constI64(a.pads), e.scalar(a.value, t.dtype)], [o]),
  eval: ([x], a, t) => {
    const r = nd(t.shape, t.dtype);
    r.data.fill(a.value);
    const s = stridesOf(t.shape);
    const base = x.shape.reduce((acc, _d, i) => acc + a.pads[i] * s[i], 0);
    forEachIndex(x.shape, [s], (i, [off]) => {
      r.data[base + off] = x.data[i];
    });
    return r;
  },
  grad: (g, { inputs: [x], attrs, F }) => {
    const axes = [...x.shape.keys()];
    return [F.slice(g, axes, axes.map((i) => attrs.pads[i]), axes.map((i) => attrs.pads[i] + x.shape[i]))];
  },
};

export const upsampleNearest2x: OpRule<None> = {
  type: ([x]) => {
    if (x.shape.length !== 4) throw new GraphError(`upsampleNearest2x: needs NCHW input, got ${fmtShape(x.shape)}`);
    // ONNX Runtime's Resize has no int64 or bool kernel
    if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new GraphError(`upsampleNearest2x: unsupported dtype ${x.dtype}`);
    const [n, c, h, w] = x.shape;
    return { shape: [n, c, 2 * h, 2 * w], dtype: x.dtype };
  },
  onnx: (e, [x], o) =>
    e.node('Resize', [x, '', e.constOf([4], 'float32', [1, 1, 2, 2])], [o], {
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    }),
  eval: ([x], _a, t) => {
    const [n, c, h, w] = x.shape;
    const r = nd(t.shape, t.dtype);
    for (let p = 0; p < n * c; p++)
      for (let y = 0; y < 2 * h; y++)
        for (let xx = 0; xx < 2 * w; xx++) r.data[(p * 2 * h + y) * 2 * w + xx] = x.data[(p * h + (y >> 1)) * w + (xx >> 1)];
    return r;
  },
  // Each input pixel feeds a 2×2 block: sum the block.
  grad: (g, { inputs: [x], F }) => {
    const [n, c, h, w] = x.shape;
    return [F.reduceSum(F.reshape(g, [n, c, h, 2, w, 2]), [3, 5])];
  },
};

