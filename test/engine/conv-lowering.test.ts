// The convolution lowerings chosen for speed, through ONNX Runtime, against direct float64 loops over
// the definition: conv's weight gradient (a gathered im2col and one GEMM, in chunks on large images), and
// convTranspose (a flipped-kernel Conv at stride 1, ConvTranspose otherwise), each with strides,
// dilations, asymmetric padding and groups.
import { describe, expect, it } from 'vitest';
import * as F from '../../src/engine/api.ts';
import { grad } from '../../src/engine/autodiff.ts';
import { Graph, sizeOf } from '../../src/engine/graph.ts';
import { ParamStore } from '../../src/engine/params.ts';
import { Rng } from '../../src/engine/rng.ts';
import { Program } from '../../src/engine/session.ts';

/** Float32 sums of at most a few hundred unit-scale products. */
const TOL = 1e-4;

interface Case {
  n: number;
  ci: number;
  co: number;
  h: number;
  w: number;
  k: [number, number];
  s: [number, number];
  d: [number, number];
  p: [number, number, number, number];
  g: number;
  transposed?: boolean;
  /** convTranspose only: extra output rows/columns beyond the natural size. */
  extra?: number;
}

const CASES: Record<string, Case> = {
  '3×3 pad 1': { n: 2, ci: 3, co: 4, h: 6, w: 5, k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1], g: 1 },
  '3×3 on a 3×3 image (every tap but the centre reads padding somewhere)': { n: 2, ci: 16, co: 16, h: 3, w: 3, k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1], g: 1 },
  'strided, dilated, grouped': { n: 2, ci: 4, co: 6, h: 7, w: 6, k: [3, 2], s: [2, 1], d: [1, 2], p: [1, 0, 2, 1], g: 2 },
  '4×4 stride 2 (PatchGAN)': { n: 3, ci: 4, co: 4, h: 8, w: 8, k: [4, 4], s: [2, 2], d: [1, 1], p: [1, 1, 1, 1], g: 1 },
  '1×1': { n: 2, ci: 3, co: 5, h: 5, w: 5, k: [1, 1], s: [1, 1], d: [1, 1], p: [0, 0, 0, 0], g: 1 },
  '3×3, 64 channels on a 45×45 image (weight-gradient im2col in chunks)': { n: 1, ci: 64, co: 2, h: 45, w: 45, k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1], g: 1 },
  'small image, 3 groups (one GEMM per group)': { n: 1, ci: 12, co: 12, h: 3, w: 4, k: [3, 3], s: [1, 2], d: [2, 1], p: [2, 1, 0, 1], g: 3 },
  'transposed, stride 1, groups': { n: 2, ci: 4, co: 6, h: 4, w: 5, k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1], g: 2, transposed: true },
  'transposed, stride 1, dilated, output padding': { n: 2, ci: 3, co: 4, h: 4, w: 4, k: [3, 3], s: [1, 1], d: [2, 2], p: [1, 2, 0, 1], g: 1, transposed: true, extra: 1 },
  'transposed, stride 2': { n: 2, ci: 4, co: 3, h: 4, w: 3, k: [3, 2], s: [2, 2], d: [1, 1], p: [1, 0, 1, 1], g: 1, transposed: true },
};

/**
 * y, and the gradients of Σ y·R for x and W, from the definition: every (input position, tap) pair
 * that lands inside the output contributes x·W to y.
 */
function direct(c: Case, outHW: [number, number], x: Float32Array, w: Float32Array, r: Float32Array) {
  const [ho, wo] = outHW;
  const cig = c.ci / c.g;
  const cog = c.co / c.g;
  const y = new Float64Array(c.n * c.co * ho * wo);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  for (let n = 0; n < c.n; n++)
    for (let grp = 0; grp < c.g; grp++)
      for (let a = 0; a < cig; a++)
        for (let b = 0; b < cog; b++)
          for (let i = 0; i < c.k[0]; i++)
            for (let j = 0; j < c.k[1]; j++) {
              const ci = grp * cig + a;
              const co = grp * cog + b;
              const wi = c.transposed ? ((ci * cog + b) * c.k[0] + i) * c.k[1] + j : ((co * cig + a) * c.k[0] + i) * c.k[1] + j;
              // conv: output (oy, ox) reads input oy·s + i·d − p; transposed: input (iy, ix) writes there.
              const [outer, inner] = c.transposed ? [c.h, c.w] : [ho, wo];
              for (let u = 0; u < outer; u++)
                for (let v = 0; v < inner; v++) {
                  const ty = u * c.s[0] + i * c.d[0] - c.p[0];
                  const tx = v * c.s[1] + j * c.d[1] - c.p[1];
                  const [iy, ix, oy, ox] = c.transposed ? [u, v, ty, tx] : [ty, tx, u, v];
                  if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w || oy < 0 || oy >= ho || ox < 0 || ox >= wo) continue;
                  const xi = ((n * c.ci + ci) * c.h + iy) * c.w + ix;
                  const yi = ((n * c.co + co) * ho + oy) * wo + ox;
                  y[yi] += x[xi] * w[wi];
                  dx[xi] += r[yi] * w[wi];
                  dw[wi] += r[yi] * x[xi];
                }
            }
  return { y, dx, dw };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe(`conv lowerings through ONNX Runtime vs direct loops (|Δ| ≤ ${TOL})`, () => {
  const rng = new Rng(11);
  for (const [name, c] of Object.entries(CASES)) {
    it(name, async () => {
      const g = new Graph();
      const x = g.input('x', [c.n, c.ci, c.h, c.w]);
      const w = g.param('w', c.transposed ? [c.ci, c.co / c.g, ...c.k] : [c.co, c.ci / c.g, ...c.k], { kind: 'normal', std: 1 });
      const attrs = { strides: c.s, dilations: c.d, pads: c.p, groups: c.g };
      const natural = (a: 0 | 1) => c.s[a] * ([c.h, c.w][a] - 1) + c.d[a] * (c.k[a] - 1) + 1 - c.p[a] - c.p[a + 2] + (c.extra ?? 0);
      const y = c.transposed ? F.convTranspose(x, w, [natural(0), natural(1)], attrs) : F.conv(x, w, attrs);
      const r = g.input('r', y.shape);
      const [dx, dw] = grad(F.reduceSum(F.mul(y, r)), [x, w]);

      const values = (shape: readonly number[]) => Float32Array.from({ length: sizeOf(shape) }, () => rng.normal());
      const [xv, wv, rv] = [values(x.shape), values(w.shape), values(r.shape)];
      const params = new ParamStore();
      params.set('w', w.shape, wv);
      const program = await Program.compile(g, { outputs: { y, dx, dw }, threads: 1 });
      const got = await program.run({ x: xv, r: rv }, params);
      await program.release();

      const want = direct(c, [y.shape[2], y.shape[3]], xv, wv, rv);
      const errs = { y: maxDiff(got.y.data as Float32Array, want.y), dx: maxDiff(got.dx.data as Float32Array, want.dx), dw: maxDiff(got.dw.data as Float32Array, want.dw) };
      console.log(`${name}: max|Δ| y ${errs.y.toExponential(1)}, dx ${errs.dx.toExponential(1)}, dW ${errs.dw.toExponential(1)}`);
      for (const [k, v] of Object.entries(errs)) expect(v, k).toBeLessThanOrEqual(TOL);
    });
  }
});
