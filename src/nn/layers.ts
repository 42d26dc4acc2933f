// Basic layers as functions of graph tensors. Parameter layouts and default initialisations follow
// PyTorch's, so reference state dicts load unchanged.
import * as F from '../engine/api.ts';
import type { Tensor } from '../engine/graph.ts';
import { fanInUniform } from '../engine/params.ts';
import type { Scope } from './scope.ts';

/**
 * y = x Wᵀ + b with W [out, in]; x [..., in] → [..., out]. In an int8 scope W is the quantized weight
 * (per output channel) and x is quantized per call: one integer GEMM with the bias fused.
 */
export function linear(s: Scope, x: Tensor, inF: number, outF: number, opts: { bias?: boolean } = {}): Tensor {
  if (s.inference === 'int8') {
    const { weight, scale } = s.int8Param('weight', outF, inF);
    const bias = (opts.bias ?? true) ? s.param('bias', [outF], fanInUniform(inF)) : undefined;
    return F.dynamicQuantizeMatmul(x, F.mT(weight), scale, bias);
  }
  const w = s.param('weight', [outF, inF], fanInUniform(inF));
  let y = F.matmul(x, F.mT(w));
  if (opts.bias ?? true) y = F.add(y, s.param('bias', [outF], fanInUniform(inF)));
  return y;
}

export interface Conv2dOptions {
  stride?: number;
  /** Symmetric padding, or [top, left, bottom, right]. */
  padding?: number | [number, number, number, number];
  bias?: boolean;
  groups?: number;
}

/** 2-D convolution, W [out, in/groups, k, k]; x [N, in, H, W] → [N, out, H', W']. */
export function conv2d(s: Scope, x: Tensor, inC: number, outC: number, k: number, opts: Conv2dOptions = {}): Tensor {
  const groups = opts.groups ?? 1;
  const fanIn = (inC / groups) * k * k;
  const w = s.param('weight', [outC, inC / groups, k, k], fanInUniform(fanIn));
  const p = opts.padding ?? 0;
  const pads: [number, number, number, number] = typeof p === 'number' ? [p, p, p, p] : p;
  const st = opts.stride ?? 1;
  const bias = (opts.bias ?? true) ? s.param('bias', [outC], fanInUniform(fanIn)) : undefined;
  return F.conv(x, w, { strides: [st, st], pads, groups }, bias);
}

/** Token embedding table [num, dim], N(0, 1) as PyTorch initialises nn.Embedding. */
export function embedding(s: Scope, indices: Tensor, num: number, dim: number): Tensor {
  return F.gather(s.param('weight', [num, dim], { kind: 'normal', std: 1 }), indices, 0);
}

/** GELU with the exact erf form: x·Φ(x). Spelled as 0.5x·(1 + erf(x/√2)), the subgraph ORT fuses into one Gelu. */
export function gelu(x: Tensor): Tensor {
  return F.mul(F.mul(x, 0.5), F.add(F.erf(F.div(x, Math.SQRT2)), 1));
}

/** swish(x) = x·σ(x). */
export function swish(x: Tensor): Tensor {
  return F.mul(x, F.sigmoid(x));
}
