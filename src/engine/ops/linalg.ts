// MatMul (batched, broadcasting batch axes), 2-D convolution and its transpose.
import * as F from '../api.ts';
import { GraphError, type Tensor, fmtShape } from '../graph.ts';
import { broadcastShapes, broadcastStrides, forEachIndex, nd } from '../ndarray.ts';
import type { ConvAttrs, OpRule, TType } from './types.ts';

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
  grad: (g, { inputs: [a, b], needs }) => {
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

export const conv: OpRule<ConvAttrs> = {
  type: ([x, w], a) => {
    checkConv('conv', x, w, a);
    if (w.shape[1] * a.groups !== x.shape[1]) {
      throw new GraphError(`conv: weight ${fmtShape(w.shape)} expects ${w.shape[1] * a.groups} input channels, input ${fmtShape(x.shape)} has ${x.shape[1]}`);
    }
    if (w.shape[0] % a.groups !== 0) throw new GraphError(`conv: weight ${fmtShape(w.shape)} has ${w.shape[0]} output channels, not divisible into ${a.groups} groups`);
    const [, , kh, kw] = w.shape;
    const h = convOut(x.shape[2], kh, a.strides[0], a.dilations[0], a.pads[0], a.pads[2]);
    const wd = convOut(x.shape[3], kw, a.strides[1], a.dilations[1], a.pads[1], a.pads[3]);
    if (h < 1 || wd < 1) throw new GraphError(`conv: kernel ${fmtShape(w.shape)} larger than padded input ${fmtShape(x.shape)}`);
    return { shape: [x.shape[0], w.shape[0], h, wd], dtype: x.dtype };
  },
  onnx: (e, ins, o, a, [, w]) => e.node('Conv', ins, [o], convOnnxAttrs(a, w)),
  eval: ([x, w], a, t) => {
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
            let s = 0;
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
  // dx is the transposed convolution of g; dw correlates the padded input with g (convWeightGrad).
  grad: (g, { inputs: [x, w], attrs, needs }) => [
    needs[0] ? F.convTranspose(g, w, [x.shape[2], x.shape[3]], attrs) : null,
    needs[1] ? convWeightGrad(x, g, attrs, [w.shape[2], w.shape[3]]) : null,
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
    const flipped = e.tmp('wflip');
    e.node('Slice', [ins[1], e.constI64([-1, -1]), e.constI64([-kh - 1, -kw - 1]), e.constI64([2, 3]), e.constI64([-1, -1])], [flipped]);
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
  grad: (g, { inputs: [x, w], attrs, needs }) => [
    needs[0] ? cropTo(F.conv(g, w, attrs), x) : null,
    needs[1] ? convWeightGrad(g, x, attrs, [w.shape[2], w.shape[3]]) : null,
  ],
};

function cropTo(t: Tensor, like: Tensor): Tensor {
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
 * dW[o,c,i,j] = Σ_{n,y,x} gOut[n,o,y,x] · xpad[n,c, y·s + i·d, x·s + j·d]: for each kernel tap (i, j) one
 * strided slice of the padded input and one GEMM contracting over the output positions (im2col, one
 * tap at a time). With large images the GEMMs run per image (batched over n, then summed); with small
 * ones, whose per-image [O, C] partial sums would outweigh the work, input and gOut are transposed once
 * so that each tap is a single GEMM over all n·y·x. (A convolution over the batch axis computes the same
 * thing but with a kernel as large as the image, which MLAS runs 3–6× slower.)
 */
function convWeightGrad(x: Tensor, gOut: Tensor, a: ConvAttrs, kernel: [number, number]): Tensor {
  const [n, c] = x.shape;
  const [, o, ho, wo] = gOut.shape;
  const groups = a.groups;
  const [cg, og, hw] = [c / groups, o / groups, ho * wo];
  const xp = F.pad(x, [0, 0, a.pads[0], a.pads[1], 0, 0, a.pads[2], a.pads[3]]);
  const [hp, wp] = [xp.shape[2], xp.shape[3]];
  const perImage = hw >= Math.max(og, cg);
  const g4 = F.reshape(gOut, [n, groups, og, hw]);
  const x5 = F.reshape(xp, [n, groups, cg, hp, wp]);
  const rows = perImage ? g4 : F.reshape(F.transpose(g4, [1, 2, 0, 3]), [groups, og, n * hw]); // [(N,) G, Og, K]
  const src = perImage ? x5 : F.transpose(x5, [1, 2, 0, 3, 4]); // [N, G, Cg, Hp, Wp] or [G, Cg, N, Hp, Wp]
  const taps: Tensor[] = [];
  for (let i = 0; i < kernel[0]; i++) {
    for (let j = 0; j < kernel[1]; j++) {
      const y0 = i * a.dilations[0];
      const x0 = j * a.dilations[1];
      const whole = y0 === 0 && x0 === 0 && a.strides[0] === 1 && a.strides[1] === 1 && hp === ho && wp === wo;
      const tap = whole
        ? src
        : F.slice(src, [3, 4], [y0, x0], [y0 + (ho - 1) * a.strides[0] + 1, x0 + (wo - 1) * a.strides[1] + 1], a.strides);
      const cols = F.reshape(tap, perImage ? [n, groups, cg, hw] : [groups, cg, n * hw]);
      const prod = F.matmul(rows, F.mT(cols)); // [(N,) G, Og, Cg]
      taps.push(F.reshape(perImage ? F.reduceSum(prod, [0]) : prod, [o, cg, 1]));
    }
  }
  return F.reshape(F.concat(taps, 2), [o, cg, kernel[0], kernel[1]]);
}
