// Multi-head scaled dot-product attention with separate query, key, value and output projections.
import * as F from '../engine/api.ts';
import { GraphError, type Tensor } from '../engine/graph.ts';
import { linear } from './layers.ts';
import type { Scope } from './scope.ts';

/** softmax(q kᵀ/√d_head [+ mask]) v over [B, H, N, d_head] tensors; `mask` adds −∞-like values. */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, additiveMask?: Tensor): Tensor {
  const dHead = q.shape[q.rank - 1];
  let scores = F.mul(F.matmul(q, F.mT(k)), 1 / Math.sqrt(dHead)); // [B, H, N, M]
  if (additiveMask) scores = F.add(scores, additiveMask);
  return F.matmul(F.softmax(scores, -1), v); // [B, H, N, d_head]
}

/** Self-attention over x [B, N, dim] with `heads` heads; linears named query, key, value, proj. */
export function multiHeadSelfAttention(s: Scope, x: Tensor, dim: number, heads: number, opts: { causal?: boolean } = {}): Tensor {
  const [b, n] = x.shape;
  if (dim % heads !== 0) throw new GraphError(`attention: dim ${dim} not divisible by ${heads} heads`);
  const dh = dim / heads;
  const split = (t: Tensor) => F.transpose(F.reshape(t, [b, n, heads, dh]), [0, 2, 1, 3]); // [B, H, N, dh]
  const q = split(linear(s.sub('query'), x, dim, dim));
  const k = split(linear(s.sub('key'), x, dim, dim));
  const v = split(linear(s.sub('value'), x, dim, dim));
  const mask = opts.causal ? causalMask(x, n) : undefined;
  const y = scaledDotProductAttention(q, k, v, mask);
  const merged = F.reshape(F.transpose(y, [0, 2, 1, 3]), [b, n, dim]);
  return linear(s.sub('proj'), merged, dim, dim);
}

/** [N, N] additive mask: 0 on and below the diagonal, −1e9 above (position i sees j ≤ i). */
export function causalMask(like: Tensor, n: number): Tensor {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) m[i * n + j] = -1e9;
  return F.constant(like, [n, n], m, like.dtype);
}
