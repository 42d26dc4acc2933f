// Optimizers as pure init/update pairs over host Float32Arrays: Adam and AdamW exactly as
// torch.optim.Adam / AdamW (1.13, single-tensor path), global-norm gradient clipping as
// torch.nn.utils.clip_grad_norm_, the reference's linear warm-up, and an EMA of weights.
// Arithmetic runs in float64, rounding to float32 where torch's kernels store a float32 (the moments,
// the weight-decayed parameter), so results agree with PyTorch to about an ulp (optim.test.ts measures it).
import type { ParamStore } from './params.ts';

export interface AdamConfig {
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8, added to √v̂ as in PyTorch (not inside the square root). */
  eps?: number;
  /** Default 0: plain Adam. Above 0: decoupled weight decay, torch.optim.AdamW (p ← p·(1 − lr·wd) first). */
  weightDecay?: number;
}

export interface AdamState {
  /** Number of updates taken; shared by every parameter, like a torch optimizer that steps them all. */
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

/** Zero moments for the named parameters (the trainable ones; buffers are never optimised). */
export function adamInit(params: ParamStore, names: string[]): AdamState {
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const name of names) {
    const n = params.get(name).data.length;
    m.set(name, new Float32Array(n));
    v.set(name, new Float32Array(n));
  }
  return { step: 0, m, v };
}

/** One bias-corrected Adam(W) step, in place on `params` and `state`. Every parameter in the state needs a gradient. */
export function adamUpdate(params: ParamStore, grads: Map<string, Float32Array>, state: AdamState, cfg: AdamConfig): void {
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0 } = cfg;
  if (!(lr >= 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps >= 0) || !(weightDecay >= 0)) {
    throw new Error(`adamUpdate: bad config ${JSON.stringify(cfg)} (need lr, eps, weightDecay ≥ 0 and betas in [0, 1))`);
  }
  for (const name of state.m.keys()) {
    const g = grads.get(name);
    const n = state.m.get(name)!.length;
    if (!g) throw new Error(`adamUpdate: no gradient for parameter '${name}'`);
    if (g.length !== n || params.get(name).data.length !== n) {
      throw new Error(`adamUpdate: parameter '${name}' has ${params.get(name).data.length} values, gradient ${g.length}, optimizer state ${n}`);
    }
  }
  state.step += 1;
  const t = state.step;
  const stepSize = lr / (1 - beta1 ** t);
  const invBc2Sqrt = 1 / Math.sqrt(1 - beta2 ** t);
  // torch multiplies the float32 parameter by this factor as a float32 and rounds; so do we.
  const decay = Math.fround(1 - lr * weightDecay);
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  for (const [name, m] of state.m) {
    const v = state.v.get(name)!;
    const g = grads.get(name)!;
    const p = params.get(name).data;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i];
      const mi = Math.fround(beta1 * m[i] + c1 * gi);
      const vi = Math.fround(beta2 * v[i] + c2 * gi * gi);
      m[i] = mi;
      v[i] = vi;
      p[i] = Math.fround(p[i] * decay) - (stepSize * mi) / (Math.sqrt(vi) * invBc2Sqrt + eps);
    }
  }
}

/**
 * Scales every gradient in place so that their global L2 norm is at most `maxNorm`, with
 * clip_grad_norm_'s coefficient maxNorm / (norm + 1e-6). Returns the norm before clipping. A
 * non-finite norm leaves the gradients untouched (torch would fill them with NaN); the caller should
 * skip that step, as the reference does for a NaN loss.
 */
export function clipGradNorm(grads: Map<string, Float32Array>, maxNorm: number): number {
  let sumSq = 0;
  for (const g of grads.values()) {
    for (let i = 0; i < g.length; i++) sumSq += g[i] * g[i];
  }
  const norm = Math.sqrt(sumSq);
  if (!Number.isFinite(norm)) return norm;
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const g of grads.values()) {
      for (let i = 0; i < g.length; i++) g[i] *= coef;
    }
  }
  return norm;
}

/**
 * Learning rate for the update at 0-based `step`, the reference's linear warm-up
 * (unleashing-transformers `optim_warmup`, applied before each optimizer step of
 * `for step in range(start, train_steps)`): base·step/warmupSteps, reaching `base` at
 * step = warmupSteps and staying there. The first update (step 0) therefore has lr 0 and only
 * primes Adam's moments. warmupSteps = 0 disables warm-up.
 */
export function warmupLr(base: number, step: number, warmupSteps: number): number {
  if (warmupSteps <= 0 || step >= warmupSteps) return base;
  return (base * step) / warmupSteps;
}

/** ema ← decay·ema + (1 − decay)·param for every tensor in `ema` (the caller chooses which tensors it tracks). */
export function emaUpdate(ema: ParamStore, params: ParamStore, decay: number): void {
  const c = 1 - decay;
  for (const [name, e] of ema.map) {
    const a = e.data;
    const p = params.get(name).data;
    if (p.length !== a.length) throw new Error(`emaUpdate: '${name}' has ${a.length} values in the EMA, ${p.length} in the model`);
    for (let i = 0; i < a.length; i++) a[i] = decay * a[i] + c * p[i];
  }
}
