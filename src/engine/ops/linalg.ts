// MatMul (batched, broadcasting batch axes), its int8 form for inference, 2-D convolution and its transpose.
import { type Graph, GraphError, type Tensor, fmtShape } from '../graph.ts';
import { broadcastShapes, broadcastStrides, forEachIndex, nd } from '../ndarray.ts';
import { quantizeActivations } from '../quantize.ts';
import type { Builders, ConvAttrs, OpRule, TType } from './types.ts';

type None = Record<string, never>;

function floatPair(op: string, a: TType, b: TType): void {
  if (a.dtype !== b.dtype) throw new GraphError(`${op}: dtypes differ: ${a.dtype}${fmtShape(a.shape)} vs ${b.dtype}${fmtShape(b.shape)}`);
  if (a.dtype !== 'float32' && a.dtype !== 'float64') throw new GraphError(`${op}: unsupported dtype ${a.dtype}`);
}

export const matmul: OpRule<None> = {
  type: ([a, b]) => {
    floatPair('matmul', a, b);
    if (a.shape.length < 2 || b.shape.length < 2) {
      throw new GraphError(`matmul: needs rank ≥ 2, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
    }
    const [m, k] = a.shape.slice(-2);
    const [k2, n] = b.shape.slice(-2);
    if (k !== k2) throw new GraphError(`matmul: inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    if (!batch) throw new GraphError(`matmul: batch axes of ${fmtShape(a.shape)} and ${fmtShape(b.shape)} do not broadcast`);
    return { shape: [...batch, m, n], dtype: a.dtype };
  },
  onnx: (e, ins, o) => e.node('MatMul', ins, [o]),
  eval: ([a, b], _attrs, t) => {
    const r = nd(t.shape, t.dtype);
    const [m, k] = a.shape.slice(-2);
    const n = b.shape[b.shape.length - 1];
    const batch = t.shape.slice(0, -2);
    const sa = broadcastStrides(a.shape.slice(0, -2), batch).map((s) => s * m * k);
    const sb = broadcastStrides(b.shape.slice(0, -2), batch).map((s) => s * k * n);
    forEachIndex(batch, [sa, sb], (bi, [oa, ob]) => {
      const or = bi * m * n;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += a.data[oa + i * k + p] * b.data[ob + p * n + j];
          r.data[or + i * n + j] = s;
        }
      }
    });
    return r;
  },
  // dA = g·Bᵀ, dB = Aᵀ·g, summed over broadcast batch axes. A weight (2-D B) shared across a batch
  // gets one large GEMM over the flattened batch instead of a batched product and a reduction.
  grad: (g, { inputs: [a, b], needs, F }) => {
    const da = needs[0] ? F.unbroadcast(F.matmul(g, F.mT(b)), a.shape) : null;
    let db: Tensor | null = null;
    if (needs[1]) {
      if (b.rank === 2 && a.rank > 2) {
        const a2 = F.reshape(a, [-1, a.shape[a.rank - 1]]);
        const g2 = F.reshape(g, [-1, g.shape[g.rank - 1]]);
        db = F.matmul(F.mT(a2), g2);
      } else db = F.unbroadcast(F.matmul(F.mT(a), g), b.shape);
    }
    return [da, db];
  },
};

/**
 * x float32 [..., K] @ w int8 [K, N] · scale [N] (+ bias [N]): ONNX Runtime's DynamicQuantizeMatMul. Each
 * call quantizes the whole of x to uint8 (quantizeActivations), multiplies in integers (exact int32
 * sums) and rescales column n by x's scale · scale[n]. Inference only: no gradient.
 */
export const dynamicQuantizeMatmul: OpRule<None> = {
  type: ([x, w, scale, bias]) => {
    if (x.dtype !== 'float32' || x.shape.length < 2) throw new GraphError(`dynamicQuantizeMatmul: x must be float32 of rank ≥ 2, got ${x.dtype}${fmtShape(x.shape)}`);
    if (w.dtype !== 'int8' || w.shape.length !== 2) throw new GraphError(`dynamicQuantizeMatmul: weight must be int8 [K, N], got ${w.dtype}${fmtShape(w.shape)}`);
    const [k, n] = w.shape;
    if (x.shape[x.shape.length - 1] !== k) throw new GraphError(`dynamicQuantizeMatmul: inner dimensions differ: ${fmtShape(x.shape)} @ ${fmtShape(w.shape)}`);
    for (const [what, t] of [['scale', scale], ['bias', bias]] as const) {
      if (t && (t.dtype !== 'float32' || fmtShape(t.shape) !== fmtShape([n]))) {
        throw new GraphError(`dynamicQuantizeMatmul: ${what} must be float32 [${n}], one per column, got ${t.dtype}${fmtShape(t.shape)}`);
      }
    }
    if (!scale) throw new GraphError('dynamicQuantizeMatmul: needs the weight scales');
    return { shape: [...x.shape.slice(0, -1), n], dtype: 'float32' };
  },
  onnx: (e, [x, w, scale, bias], o) => e.contrib('DynamicQuantizeMatMul', bias ? [x, w, scale, '', bias] : [x, w, scale], [o]),
  eval: ([x, w, scale, bias], _a, t) => {
    const r = nd(t.shape, t.dtype);
    const [k, n] = w.shape;
    const { q, scale: sx, zeroPoint } = quantizeActivations(x.data);
    for (let row = 0; row < q.length / k; row++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) acc += (q[row * k + p] - zeroPoint) * w.data[p * n + j];
        r.data[row * n + j] = Math.fround(Math.fround(acc * Math.fround(sx * scale.data[j])) + (bias ? bias.data[j] : 0));
      }
    }
    return r;
  },
  grad: null,
};

/**
 * Multi-head scaled dot-product attention, softmax(q kᵀ / √d) v per head, on q [B, N, H·d], k, v
 * [B, M, H·d] with the heads side by side (as the projections make them): ONNX Runtime's
 * MultiHeadAttention, one kernel instead of transposes, two batched products and a softmax.
 */
export const attention: OpRule<{ heads: number }> = {
  type: ([q, k, v], a) => {
    for (const t of [q, k, v]) if (t.dtype !== 'float32' || t.shape.length !== 3) throw new GraphError(`attention: q, k, v must be float32 [B, N, D], got ${t.dtype}${fmtShape(t.shape)}`);
    const ok = q.shape[0] === k.shape[0] && fmtShape(k.shape) === fmtShape(v.shape) && q.shape[2] === k.shape[2] && q.shape[2] % a.heads === 0;
    if (!ok) throw new GraphError(`attention: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)} do not fit ${a.heads} heads`);
    return q;
  },
  onnx: (e, ins, o, a) => e.contrib('MultiHeadAttention', ins, [o], { num_heads: a.heads }),
  eval: ([q, k, v], a, t) => {
    const r = nd(t.shape, t.dtype);
    const [b, n, dim] = q.shape;
    const m = k.shape[1];
    const d = dim / a.heads;
    const scale = 1 / Math.sqrt(d);
    const w = new Float64Array(m);
    for (let bi = 0; bi < b; bi++)
      for (let h = 0; h < a.heads; h++)
        for (let i = 0; i < n; i++) {
          let top = -Infinity;
          for (let j = 0; j < m; j++) {
            let s = 0;
            for (let c = 0; c < d; c++) s += q.data[(bi * n + i) * dim + h * d + c] * k.data[(bi * m + j) * dim + h * d + c];
            w[j] = s * scale;
            top = Math.max(top, w[j]);
          }
          let z = 0;
          for (let j = 0; j < m; j++) z += w[j] = Math.exp(w[j] - top);
          for (let c = 0; c < d; c++) {
            let s = 0;
            for (let j = 0; j < m; j++) s += w[j] * v.data[(bi * m + j) * dim + h * d + c];
            r.data[(bi * n + i) * dim + h * d + c] = s / z;
          }
        }
    return r;
  },
  grad: null,
};

function convOut(size: number, k: number, s: number, d: number, p0: number, p1: number): number {
  return Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;
}

function checkConv(op: string, x: TType, w: TType, a: ConvAttrs): void {
  floatPair(op, x, w);
  if (x.shape.length !== 4 || w.shape.length !== 4) {
    throw new GraphError(`${op}: needs 4-D input and weight, got ${fmtShape(x.shape)} and ${fmtShape(w.shape)}`);
  }
  if (a.groups < 1 || x.shape[1] % a.groups !== 0) throw new GraphError(`${op}: ${x.shape[1]} channels not divisible into ${a.groups} groups`);
}

function convOnnxAttrs(a: ConvAttrs, w: TType) {
  return { strides: a.strides, pads: a.pads, dilations: a.dilations, group: a.groups, kernel_shape: w.shape.slice(2) as number[] };
}

/** Convolution of x [N, C, H, W] with w [O, C/groups, kh, kw], plus an optional bias [O] (ONNX Conv's B). */
export const conv: OpRule<ConvAttrs> = {
  type: ([x, w, b], a) => {
    checkConv('conv', x, w, a);
    if (w.shape[1] * a.groups !== x.shape[1]) {
      throw new GraphError(`conv: weight ${fmtShape(w.shape)} expects ${w.shape[1] * a.groups} input channels, input ${fmtShape(x.shape)} has ${x.shape[1]}`);
    }
    if (b && (b.dtype !== x.dtype || fmtShape(b.shape) !== fmtShape([w.shape[0]]))) {
      throw new GraphError(`conv: bias ${b.dtype}${fmtShape(b.shape)} must be ${x.dtype}[${w.shape[0]}], one value per output channel`);
    }
    if (w.shape[0] % a.groups !== 0) throw new GraphError(`conv: weight ${fmtShape(w.shape)} has ${w.shape[0]} output channels, not divisible into ${a.groups} groups`);
    const [, , kh, kw] = w.shape;
    const h = convOut(x.shape[2], kh, a.strides[0], a.dilations[0], a.pads[0], a.pads[2]);
    const wd = convOut(x.shape[3], kw, a.strides[1], a.dilations[1], a.pads[1], a.pads[3]);
    if (h < 1 || wd < 1) throw new GraphError(`conv: kernel ${fmtShape(w.shape)} larger than padded input ${fmtShape(x.shape)}`);
    return { shape: [x.shape[0], w.shape[0], h, wd], dtype: x.dtype };
  },
  onnx: (e, ins, o, a, [, w]) => e.node('Conv', ins, [o], convOnnxAttrs(a, w)),
  eval: ([x, w, bias], a, t) => {
    const r = nd(t.shape, t.dtype);
    const [n, c, h, wd] = x.shape;
    const [o, cg, kh, kw] = w.shape;
    const [, , ho, wo] = t.shape;
    const og = o / a.groups;
    for (let b = 0; b < n; b++)
      for (let oc = 0; oc < o; oc++) {
        const grp = Math.floor(oc / og);
        for (let y = 0; y < ho; y++)
          for (let xx = 0; xx < wo; xx++) {
            let s = bias ? bias.data[oc] : 0;
            for (let ic = 0; ic < cg; ic++)
              for (let i = 0; i < kh; i++) {
                const yy = y * a.strides[0] + i * a.dilations[0] - a.pads[0];
                if (yy < 0 || yy >= h) continue;
                for (let j = 0; j < kw; j++) {
                  const xi = xx * a.strides[1] + j * a.dilations[1] - a.pads[1];
                  if (xi < 0 || xi >= wd) continue;
                  s += x.data[((b * c + grp * cg + ic) * h + yy) * wd + xi] * w.data[((oc * cg + ic) * kh + i) * kw + j];
                }
              }
            r.data[((b * o + oc) * ho + y) * wo + xx] = s;
          }
      }
    return r;
  },
  // dx is the transposed convolution of g; dw correlates the padded input with g (convWeightGrad);
  // db sums g over positions, then images (ORT reduces trailing axes far faster than outer and inner at once).
  grad: (g, { inputs: [x, w], attrs, needs, F }) => [
    needs[0] ? F.convTranspose(g, w, [x.shape[2], x.shape[3]], attrs) : null,
    needs[1] ? convWeightGrad(F, x, g, attrs, [w.shape[2], w.shape[3]]) : null,
    needs[2] ? F.reduceSum(F.reduceSum(g, [2, 3]), [0]) : null,
  ],
};

export const convTranspose: OpRule<ConvAttrs & { outputShape: [number, number] }> = {
  type: ([x, w], a) => {
    checkConv('convTranspose', x, w, a);
    if (w.shape[0] !== x.shape[1]) {
      throw new GraphError(`convTranspose: weight ${fmtShape(w.shape)} expects ${w.shape[0]} input channels, input ${fmtShape(x.shape)} has ${x.shape[1]}`);
    }
    const extra = outputPadding(x, w, a);
    extra.forEach((p, i) => {
      if (p < 0 || p >= Math.max(a.strides[i], a.dilations[i])) {
        throw new GraphError(`convTranspose: output size ${a.outputShape[i]} unreachable from input ${fmtShape(x.shape)} with stride ${a.strides[i]}`);
      }
    });
    return { shape: [x.shape[0], w.shape[1] * a.groups, ...a.outputShape], dtype: x.dtype };
  },
  onnx: (e, ins, o, a, [x, w]) => {
    const extra = outputPadding(x, w, a);
    const [kh, kw] = [w.shape[2], w.shape[3]];
    const pads = [0, 1].map((i) => a.dilations[i] * ([kh, kw][i] - 1) - a.pads[i]);
    const padsEnd = [0, 1].map((i) => a.dilations[i] * ([kh, kw][i] - 1) - a.pads[i + 2] + extra[i]);
    if (a.strides[0] !== 1 || a.strides[1] !== 1 || [...pads, ...padsEnd].some((p) => p < 0)) {
      e.node('ConvTranspose', ins, [o], { ...convOnnxAttrs(a, w), output_padding: extra });
      return;
    }
    // With stride 1 the transposed convolution is a plain one with the kernel flipped and its in/out
    // axes swapped (per group), padded by d·(k−1) − p. MLAS runs Conv about twice as fast as
    // ConvTranspose (whose col2im is the bottleneck), and this is conv's input gradient.
    const [ci, cog] = [w.shape[0], w.shape[1]];
    const g = a.groups;
    let flipped = ins[1];
    if (kh * kw > 1) {
      flipped = e.tmp('wflip');
      e.node('Slice', [ins[1], e.constI64([-1, -1]), e.constI64([-kh - 1, -kw - 1]), e.constI64([2, 3]), e.constI64([-1, -1])], [flipped]);
    }
    const grouped = e.tmp('wgrp');
    const swapped = e.tmp('wswap');
    const wConv = e.tmp('wconv');
    e.node('Reshape', [flipped, e.constI64([g, ci / g, cog, kh, kw])], [grouped]);
    e.node('Transpose', [grouped], [swapped], { perm: [0, 2, 1, 3, 4] });
    e.node('Reshape', [swapped, e.constI64([g * cog, ci / g, kh, kw])], [wConv]);
    e.node('Conv', [ins[0], wConv], [o], { strides: [1, 1], pads: [...pads, ...padsEnd], dilations: a.dilations, group: g, kernel_shape: [kh, kw] });
  },
  eval: ([x, w], a, t) => {
    const r = nd(t.shape, t.dtype);
    const [n, ci, h, wd] = x.shape;
    const [, cog, kh, kw] = w.shape;
    const [, co, ho, wo] = t.shape;
    const cig = ci / a.groups;
    for (let b = 0; b < n; b++)
      for (let ic = 0; ic < ci; ic++) {
        const grp = Math.floor(ic / cig);
        for (let y = 0; y < h; y++)
          for (let xx = 0; xx < wd; xx++) {
            const v = x.data[((b * ci + ic) * h + y) * wd + xx];
            for (let oc = 0; oc < cog; oc++)
              for (let i = 0; i < kh; i++) {
                const yy = y * a.strides[0] + i * a.dilations[0] - a.pads[0];
                if (yy < 0 || yy >= ho) continue;
                for (let j = 0; j < kw; j++) {
                  const xo = xx * a.strides[1] + j * a.dilations[1] - a.pads[1];
                  if (xo < 0 || xo >= wo) continue;
                  r.data[((b * co + grp * cog + oc) * ho + yy) * wo + xo] += v * w.data[((ic * cog + oc) * kh + i) * kw + j];
                }
              }
          }
      }
    return r;
  },
  // convTranspose(x, W) is the input-gradient of conv(·, W), so dx = conv(g, W) and, by the same
  // bilinearity, dW is conv's weight gradient with the roles of input and output-gradient swapped.
  // Output padding can give conv(g, W) rows past x's (stride 1, dilation > 1); nothing read them.
  grad: (g, { inputs: [x, w], attrs, needs, F }) => [
    needs[0] ? cropTo(F, F.conv(g, w, attrs), x) : null,
    needs[1] ? convWeightGrad(F, g, x, attrs, [w.shape[2], w.shape[3]]) : null,
  ],
};

function cropTo(F: Builders, t: Tensor, like: Tensor): Tensor {
  const [h, w] = [like.shape[2], like.shape[3]];
  return t.shape[2] === h && t.shape[3] === w ? t : F.slice(t, [2, 3], [0, 0], [h, w]);
}

function outputPadding(x: TType, w: TType, a: ConvAttrs & { outputShape: [number, number] }): number[] {
  return [0, 1].map((i) => {
    const base = a.strides[i] * (x.shape[2 + i] - 1) + (w.shape[2 + i] - 1) * a.dilations[i] + 1 - a.pads[i] - a.pads[i + 2];
    return a.outputShape[i] - base;
  });
}

/**
 * Most im2col values (floats, 4 MB) one Gather materialises: larger weight gradients sum GEMMs over
 * chunks of positions, each reading its gathered block while it is still in cache (measured fastest).
 */
const COLS_BUDGET = 1 << 20;

/**
 * dW[o,c,i,j] = Σ_{n,y,x} gOut[n,o,y,x] · x[n,c, y·s + i·d − p, x·s + j·d − p], as im2col and one GEMM over
 * all n·y·x: x goes channels-last (per image [H·W·G, Cg] rows, plus a zero row for taps that land in
 * the padding), one Gather copies the kh·kw rows each output position reads (the same indices for
 * every image), and gOut as [G, Og, n·y·x] multiplies them. That is a handful of ops per convolution
 * whatever its kernel, where slicing tap by tap costs several per tap. Output positions are chunked
 * so that the im2col copy stays bounded on large images.
 */
function convWeightGrad(F: Builders, x: Tensor, gOut: Tensor, a: ConvAttrs, kernel: [number, number]): Tensor {
  const [n, c, h, w] = x.shape;
  const [, o, ho, wo] = gOut.shape;
  const groups = a.groups;
  const [cg, og, taps, hwo] = [c / groups, o / groups, kernel[0] * kernel[1], ho * wo];
  const padded = a.pads.some((p) => p > 0);
  // A 1×1 stride-1 kernel without groups reads each row once, in order: the rows are the im2col.
  const identity = taps === 1 && groups === 1 && !padded && a.strides[0] === 1 && a.strides[1] === 1;
  let rows = F.reshape(F.transpose(x, [0, 2, 3, 1]), [n, h * w * groups, cg]); // [N, H·W·G, Cg]
  if (padded) rows = F.pad(rows, [0, 0, 0, 0, 1, 0]);
  const gT = F.reshape(F.transpose(F.reshape(gOut, [n, o, hwo]), [1, 0, 2]), [groups, og, n, hwo]); // [G, Og, N, Ho·Wo]
  const chunk = Math.max(1, Math.floor(COLS_BUDGET / (n * groups * taps * cg)));
  let dw: Tensor | null = null;
  for (let q0 = 0; q0 < hwo; q0 += chunk) {
    const q1 = Math.min(hwo, q0 + chunk);
    const whole = q0 === 0 && q1 === hwo;
    let cols: Tensor; // [G, N·Qk, taps·Cg]
    if (identity) cols = F.reshape(whole ? rows : F.slice(rows, [1], [q0], [q1]), [1, n * (q1 - q0), cg]);
    else {
      const read = F.gather(rows, im2colIndices(x, [ho, wo], a, kernel, q0, q1), 1); // [N, G, Qk, taps, Cg]
      cols = F.reshape(groups === 1 ? read : F.transpose(read, [1, 0, 2, 3, 4]), [groups, n * (q1 - q0), taps * cg]);
    }
    const gk = F.reshape(whole ? gT : F.slice(gT, [3], [q0], [q1]), [groups, og, n * (q1 - q0)]);
    const part = F.matmul(gk, cols); // [G, Og, taps·Cg]
    dw = dw ? F.add(dw, part) : part;
  }
  return taps === 1 ? F.reshape(dw!, [o, cg, 1, 1]) : F.transpose(F.reshape(dw!, [o, kernel[0], kernel[1], cg]), [0, 3, 1, 2]);
}

const indexCache = new WeakMap<Graph, Map<string, Tensor>>();

/**
 * For output positions q0 ≤ q < q1 of one image (over y, x): int64 [G, q1 − q0, kh·kw], the row of an
 * image's [H·W·G (+ 1 zero row), Cg] that tap (i, j) of group g reads, or the zero row H·W·G where it
 * reads padding. Shared between the convolutions of a graph that have the same geometry.
 */
function im2colIndices(x: Tensor, out: [number, number], a: ConvAttrs, kernel: [number, number], q0: number, q1: number): Tensor {
  const [, , h, w] = x.shape;
  const wo = out[1];
  const groups = a.groups;
  const key = JSON.stringify([h, w, out, a, kernel, q0, q1]);
  let cache = indexCache.get(x.graph);
  if (!cache) indexCache.set(x.graph, (cache = new Map()));
  const hit = cache.get(key);
  if (hit) return hit;
  const [kh, kw] = kernel;
  const count = q1 - q0;
  const idx = new Float64Array(groups * count * kh * kw);
  for (let q = q0; q < q1; q++) {
    const [yo, xo] = [Math.floor(q / wo), q % wo];
    for (let i = 0; i < kh; i++) {
      const yi = yo * a.strides[0] + i * a.dilations[0] - a.pads[0];
      for (let j = 0; j < kw; j++) {
        const xi = xo * a.strides[1] + j * a.dilations[1] - a.pads[1];
        const inside = yi >= 0 && yi < h && xi >= 0 && xi < w;
        for (let g = 0; g < groups; g++) {
          idx[((g * count + q - q0) * kh + i) * kw + j] = inside ? (yi * w + xi) * groups + g : h * w * groups;
        }
      }
    }
  }
  const t = x.graph.constant(nd([groups, count, kh * kw], 'int64', idx));
  cache.set(key, t);
  return t;
}
