// Normalisation layers composed from primitives (their gradients come from autodiff).
import * as F from '../engine/api.ts';
import { GraphError, type Tensor } from '../engine/graph.ts';
import type { Scope } from './scope.ts';

/**
 * (x − mean) / √(var + eps) over `axes`, with the biased variance as PyTorch uses for normalising.
 * The square is a Pow(·, 2) so that ORT fuses layerNorm's subgraph into one LayerNormalization.
 */
function standardize(x: Tensor, axes: number[], eps: number): { y: Tensor; mean: Tensor; variance: Tensor } {
  const mean = F.reduceMean(x, axes, true);
  const centred = F.sub(x, mean);
  const variance = F.reduceMean(F.pow(centred, 2), axes, true);
  return { y: F.div(centred, F.sqrt(F.add(variance, eps))), mean, variance };
}

/** LayerNorm over the last axis with weight and bias [dim]. */
export function layerNorm(s: Scope, x: Tensor, dim: number, eps = 1e-5): Tensor {
  if (x.shape[x.rank - 1] !== dim) throw new GraphError(`layerNorm: last axis of ${x} is not ${dim}`);
  const { y } = standardize(x, [x.rank - 1], eps);
  return F.add(F.mul(y, s.param('weight', [dim], { kind: 'ones' })), s.param('bias', [dim], { kind: 'zeros' }));
}

/**
 * GroupNorm on NCHW with per-channel affine; the reference VQGAN uses 32 groups and eps 1e-6. As
 * PyTorch's kernel does, the normalisation and affine fold into one scale and shift per (image,
 * channel), y = x·γ/σ + (β − μ·γ/σ): two full-size passes instead of four, forward and backward.
 */
export function groupNorm(s: Scope, x: Tensor, channels: number, groups = 32, eps = 1e-6): Tensor {
  const [n, c, h, w] = x.shape;
  if (c !== channels || c % groups !== 0) throw new GraphError(`groupNorm: ${x} needs ${channels} channels divisible by ${groups} groups`);
  const cg = c / groups;
  const xg = F.reshape(x, [n, groups, cg * h * w]);
  if (s.inference) {
    // inference: one InstanceNormalization over the groups, then the per-channel affine
    const y = F.reshape(F.instanceNorm(xg, eps), [n, c, h, w]);
    return F.add(F.mul(y, F.reshape(s.param('weight', [c], { kind: 'ones' }), [1, c, 1, 1])), F.reshape(s.param('bias', [c], { kind: 'zeros' }), [1, c, 1, 1]));
  }
  const mean = F.reduceMean(xg, [2], true); // [N, G, 1]
  const variance = F.reduceMean(F.pow(F.sub(xg, mean), 2), [2], true);
  const gamma = F.reshape(s.param('weight', [c], { kind: 'ones' }), [1, groups, cg]);
  const beta = F.reshape(s.param('bias', [c], { kind: 'zeros' }), [1, groups, cg]);
  const scale = F.div(gamma, F.sqrt(F.add(variance, eps))); // [N, G, Cg]
  const shift = F.sub(beta, F.mul(mean, scale));
  return F.add(F.mul(x, F.reshape(scale, [n, c, 1, 1])), F.reshape(shift, [n, c, 1, 1]));
}

export interface BatchNormResult {
  y: Tensor;
  /** In training mode: this batch's mean and unbiased variance per channel, for the running statistics. */
  batchMean?: Tensor;
  batchVar?: Tensor;
}

/**
 * BatchNorm2d. Training normalises with the batch's statistics and returns them so the host can update
 * `running_mean`/`running_var` (buffers, not trained) with momentum; inference uses the running ones.
 */
export function batchNorm(s: Scope, x: Tensor, channels: number, training: boolean, eps = 1e-5): BatchNormResult {
  const [n, c, h, w] = x.shape;
  if (c !== channels) throw new GraphError(`batchNorm: ${x} needs ${channels} channels`);
  const scale = F.reshape(s.param('weight', [c], { kind: 'ones' }), [1, c, 1, 1]);
  const shift = F.reshape(s.param('bias', [c], { kind: 'zeros' }), [1, c, 1, 1]);
  const runMean = s.param('running_mean', [c], { kind: 'zeros' }, false);
  const runVar = s.param('running_var', [c], { kind: 'ones' }, false);
  if (training) {
    const { y, mean, variance } = standardize(x, [0, 2, 3], eps);
    const count = n * h * w;
    return {
      y: F.add(F.mul(y, scale), shift),
      batchMean: F.reshape(mean, [c]),
      batchVar: F.reshape(F.mul(variance, count / Math.max(1, count - 1)), [c]),
    };
  }
  const norm = F.div(F.sub(x, F.reshape(runMean, [1, c, 1, 1])), F.sqrt(F.add(F.reshape(runVar, [1, c, 1, 1]), eps)));
  return { y: F.add(F.mul(norm, scale), shift) };
}
