// Adam, AdamW and clip_grad_norm_ against PyTorch 1.13 (reference/make_optim_fixtures.py writes the
// fixture); warm-up and EMA against hand-computed values.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type AdamConfig, adamInit, adamUpdate, clipGradNorm, emaUpdate, warmupLr } from '../../src/engine/optim.ts';
import { ParamStore } from '../../src/engine/params.ts';

/** Parameters (|p| up to ~3) after 5 steps: float64 arithmetic rounded to float32 vs torch's float32 kernels; about one ulp at |p| = 1. */
const ADAM_PARAM_ATOL = 1e-7;
/** Adam's moments, relative (v spans 1e-15..1e3 across the fixture's gradient scales): a few float32 ulps. */
const ADAM_MOMENT_RTOL = 1e-6;
/** clip_grad_norm_'s norm (torch sums per-tensor float32 norms) and the clipped gradients. */
const CLIP_RTOL = 1e-6;

type Named = Record<string, number[]>;
interface Run {
  cfg: AdamConfig;
  warmup?: { base: number; warmupSteps: number; lrs: number[] };
  after: Named[];
  state: Record<string, { m: number[]; v: number[] }>;
}
interface Fixture {
  torch: string;
  shapes: Record<string, number[]>;
  init: Named;
  grads: Named[];
  runs: Record<string, Run>;
  clip: { maxNorm: number; grads: Named; norm: number; clipped: Named }[];
}

const fx = JSON.parse(readFileSync(new URL('../fixtures/optim.json', import.meta.url), 'utf8')) as Fixture;

function store(values: Named): ParamStore {
  const s = new ParamStore();
  for (const [k, v] of Object.entries(values)) s.set(k, fx.shapes[k], Float32Array.from(v));
  return s;
}

function gradMap(values: Named): Map<string, Float32Array> {
  return new Map(Object.entries(values).map(([k, v]) => [k, Float32Array.from(v)]));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-30));
  return d;
}

describe(`Adam / AdamW vs torch ${fx.torch}`, () => {
  for (const [name, run] of Object.entries(fx.runs)) {
    it(`${name}: ${run.after.length} steps, cfg ${JSON.stringify(run.cfg)}${run.warmup ? ', reference warm-up' : ''}`, () => {
      const params = store(fx.init);
      const state = adamInit(params, Object.keys(fx.init));
      let worst = 0;
      let moved = 0;
      fx.grads.forEach((g, step) => {
        const lr = run.warmup ? warmupLr(run.warmup.base, step, run.warmup.warmupSteps) : run.cfg.lr;
        if (run.warmup) expect(lr).toBeCloseTo(run.warmup.lrs[step], 15);
        adamUpdate(params, gradMap(g), state, { ...run.cfg, lr });
        for (const k of params.names()) {
          worst = Math.max(worst, maxAbsDiff(params.get(k).data, run.after[step][k]));
          moved = Math.max(moved, maxAbsDiff(params.get(k).data, fx.init[k]));
        }
      });
      let worstMoment = 0;
      for (const k of params.names()) {
        worstMoment = Math.max(worstMoment, maxRelDiff(state.m.get(k)!, run.state[k].m), maxRelDiff(state.v.get(k)!, run.state[k].v));
      }
      console.log(`${name}: max |param − torch| ${worst.toExponential(2)} (tol ${ADAM_PARAM_ATOL}), params moved up to ${moved.toExponential(2)}; max rel moment diff ${worstMoment.toExponential(2)} (tol ${ADAM_MOMENT_RTOL})`);
      expect(state.step).toBe(fx.grads.length);
      expect(worst).toBeLessThan(ADAM_PARAM_ATOL);
      expect(worstMoment).toBeLessThan(ADAM_MOMENT_RTOL);
    });
  }

  it('rejects a missing gradient and mismatched sizes', () => {
    const params = store(fx.init);
    const state = adamInit(params, ['w', 'b']);
    expect(() => adamUpdate(params, gradMap({ w: fx.grads[0].w }), state, { lr: 1e-3 })).toThrow(/no gradient for parameter 'b'/);
    expect(() => adamUpdate(params, gradMap({ w: fx.grads[0].w, b: [1, 2] }), state, { lr: 1e-3 })).toThrow(/'b'/);
    expect(() => adamUpdate(params, gradMap(fx.grads[0]), state, { lr: 1e-3, beta2: 1 })).toThrow(/bad config/);
    expect(state.step).toBe(0);
  });

  it('only touches the parameters it was initialised with', () => {
    const params = store(fx.init);
    const state = adamInit(params, ['w']);
    adamUpdate(params, gradMap(fx.grads[0]), state, { lr: 1e-3 });
    expect([...params.get('b').data]).toEqual([...Float32Array.from(fx.init.b)]);
  });
});

describe(`clipGradNorm vs torch.nn.utils.clip_grad_norm_`, () => {
  fx.clip.forEach((c, i) => {
    it(`case ${i}: max norm ${c.maxNorm}, torch norm ${c.norm.toPrecision(6)}`, () => {
      const grads = gradMap(c.grads);
      const norm = clipGradNorm(grads, c.maxNorm);
      const normDiff = Math.abs(norm - c.norm) / c.norm;
      let worst = 0;
      for (const [k, g] of grads) worst = Math.max(worst, maxRelDiff(g, c.clipped[k]));
      console.log(`clip case ${i}: rel norm diff ${normDiff.toExponential(2)}, max rel grad diff ${worst.toExponential(2)} (tol ${CLIP_RTOL})`);
      expect(normDiff).toBeLessThan(CLIP_RTOL);
      expect(worst).toBeLessThan(CLIP_RTOL);
    });
  });

  it('leaves gradients alone when the norm is not finite', () => {
    const grads = new Map([['a', Float32Array.from([1, Number.NaN])]]);
    expect(clipGradNorm(grads, 1)).toBeNaN();
    expect(grads.get('a')![0]).toBe(1);
  });
});

describe('warmupLr (reference optim_warmup: base·step/warmup for 0-based step)', () => {
  it('matches hand-computed values', () => {
    const want = [0, 5e-5, 1e-4, 1.5e-4, 2e-4, 2e-4];
    [0, 1, 2, 3, 4, 100].forEach((step, i) => expect(warmupLr(2e-4, step, 4)).toBeCloseTo(want[i], 18));
    expect(warmupLr(1e-3, 0, 0)).toBe(1e-3);
  });
});

describe('emaUpdate', () => {
  it('ema ← decay·ema + (1 − decay)·param, by hand', () => {
    const ema = new ParamStore();
    ema.set('x', [3], Float32Array.from([1, -2, 0]));
    const params = new ParamStore();
    params.set('x', [3], Float32Array.from([3, 2, 10]));
    params.set('unused', [1], Float32Array.from([7]));
    emaUpdate(ema, params, 0.75);
    expect([...ema.get('x').data]).toEqual([1.5, -1, 2.5]);
    emaUpdate(ema, params, 0.75);
    expect([...ema.get('x').data]).toEqual([1.875, -0.25, 4.375]);
    expect(ema.has('unused')).toBe(false);
  });
});
