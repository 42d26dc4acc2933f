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
  if (s.inference && !opts.causal) {
    // inference: one fused kernel on the projections as they come, heads side by side
    const y = F.attention(linear(s.sub('query'), x, dim, dim), linear(s.sub('key'), x, dim, dim), linear(s.sub('value'), x, dim, dim), heads);
    return linear(s.sub('proj'), y, dim, dim);
  }
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

/** Per-layer key/value cache for left-to-right decoding: [B, H, N, d_head] each. */
export interface KeyValueCache {
  key: Tensor;
  value: Tensor;
}

/**
 * One decoding step of multiHeadSelfAttention (same parameters) for x [B, 1, dim] at position t:
 * the query attends over the cached keys/values of positions < t (`pastMask` [N], 0 where visible,
 * −1e9 elsewhere) and over its own key/value, which it returns [B, H, 1, d_head] for the caller to
 * store at t. The cache stays an input, so the step never copies it.
 */
export function selfAttentionStep(s: Scope, x: Tensor, dim: number, heads: number, cache: KeyValueCache, pastMask: Tensor): { y: Tensor; key: Tensor; value: Tensor } {
  const [b, one] = x.shape;
  if (one !== 1) throw new GraphError(`attention step: x must be [B, 1, ${dim}], got ${x}`);
  const dh = dim / heads;
  const split = (t: Tensor) => F.transpose(F.reshape(t, [b, 1, heads, dh]), [0, 2, 1, 3]); // [B, H, 1, dh]
  const q = split(linear(s.sub('query'), x, dim, dim));
  const k = split(linear(s.sub('key'), x, dim, dim));
  const v = split(linear(s.sub('value'), x, dim, dim));
  const n = cache.key.shape[2];
  const scale = 1 / Math.sqrt(dh);
  const past = F.add(F.mul(F.matmul(q, F.mT(cache.key)), scale), pastMask); // [B, H, 1, N]
  const self = F.mul(F.reduceSum(F.mul(q, k), [3], true), scale); // [B, H, 1, 1]
  const w = F.softmax(F.concat([past, self], 3), -1); // [B, H, 1, N + 1]
  const y = F.add(F.matmul(F.slice(w, [3], [0], [n]), cache.value), F.mul(F.slice(w, [3], [n], [n + 1]), v)); // [B, H, 1, dh]
  const merged = F.reshape(F.transpose(y, [0, 2, 1, 3]), [b, 1, dim]);
  return { y: linear(s.sub('proj'), merged, dim, dim), key: k, value: v };
}
