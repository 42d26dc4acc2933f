// DiffAugment against Zhao et al.'s PyTorch functions on the same draws (reference/make_diffaugment_fixture.py
// wrote test/fixtures/vqgan/diffaugment.json), through the float64 reference evaluator and ONNX Runtime
// in float32; its gradient against finite differences; the draws' ranges and the config's errors.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Graph } from '../../src/engine/graph.ts';
import { nd } from '../../src/engine/ndarray.ts';
import { evaluate } from '../../src/engine/reference.ts';
import { Rng } from '../../src/engine/rng.ts';
import { Program } from '../../src/engine/session.ts';
import { type DiffAugmentDraw, declareDiffAugmentInputs, diffAugment, diffAugmentFeeds, drawDiffAugment, parseDiffAugment } from '../../src/models/diffaugment.ts';
import { parseVqganConfig } from '../../src/models/vqgan-config.ts';
import { gradCheck } from '../helpers/gradcheck.ts';
import { randn, uniform } from '../helpers/opcase.ts';

const fx = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'vqgan', 'diffaugment.json'), 'utf8')) as {
  x: { shape: number[]; data: number[] };
  draws: DiffAugmentDraw;
  cases: { policy: string; y: number[] }[];
};

/**
 * The draws are dyadic (exact in float32), so the float64 reference evaluator differs from PyTorch's float64
 * only by summation order and the fixture's 12 digits; ORT in float32 by float32 rounding of values ≤ ~3.
 */
const F64_TOL = 1e-10;
const F32_TOL = 1e-6;

describe('DiffAugment', () => {
  const [b, c, size] = [fx.x.shape[0], fx.x.shape[1], fx.x.shape[2]];

  for (const { policy, y } of fx.cases) {
    it(`matches Zhao's PyTorch code on fixed draws: ${policy}`, async () => {
      const augments = parseDiffAugment(policy);
      const feeds = diffAugmentFeeds('aug', augments, fx.draws, size);
      for (const dtype of ['float64', 'float32'] as const) {
        const g = new Graph();
        const x = g.input('x', fx.x.shape, dtype);
        const out = diffAugment(x, augments, declareDiffAugmentInputs(g, 'aug', augments, b, size, dtype));
        let got: ArrayLike<number>;
        if (dtype === 'float64') {
          const ins = Object.fromEntries([...g.inputs].map(([n, t]) => [n, nd(t.shape, 'float64', n === 'x' ? fx.x.data : feeds[n])]));
          got = evaluate(g, ins, [out])[0].data;
        } else {
          const program = await Program.compile(g, { outputs: { out }, threads: 1 });
          got = (await program.run({ ...feeds, x: Float32Array.from(fx.x.data) })).out.data as Float32Array;
          await program.release();
        }
        const maxAbs = y.reduce((m, v, i) => Math.max(m, Math.abs(got[i] - v)), 0);
        console.log(`DiffAugment ${policy} ${dtype}: max |ours − torch| ${maxAbs.toExponential(2)}`);
        expect(maxAbs).toBeLessThanOrEqual(dtype === 'float64' ? F64_TOL : F32_TOL);
      }
    });
  }

  it('passes a gradient check in the image and in every fed parameter', () => {
    const rng = new Rng(8);
    const augments = parseDiffAugment('color,translation,cutout');
    const feeds = diffAugmentFeeds('aug', augments, drawDiffAugment(rng, augments, 2, 6), 6);
    const inputs = {
      x: uniform(rng, [2, c, 6, 6], 0, 1),
      ...Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k.slice(4), nd(v.length === 2 ? [2, 1, 1, 1] : [2, 1, 6, 6], 'float64', v)])),
    };
    const r = gradCheck({ name: 'diffAugment', ops: [], inputs, build: ({ x, ...t }) => diffAugment(x, augments, t) });
    console.log(`DiffAugment gradient check: max |autodiff − fd| ${r.maxAbs.toExponential(2)} over ${r.count} derivatives`);
    expect(r.used, r.worst).toBeLessThanOrEqual(1);
    // The image gradient alone, with random (not one-hot) translation matrices, so every path carries weight.
    const dense = { ...inputs, rows: randn(rng, [2, 1, 6, 6]), cols: randn(rng, [2, 1, 6, 6]) };
    expect(gradCheck({ name: 'dense', ops: [], inputs: dense, build: ({ x, ...t }) => diffAugment(x, augments, t) }).used).toBeLessThanOrEqual(1);
  });

  it('draws within Zhao’s ranges from the seeded Rng', () => {
    const augments = parseDiffAugment('color, translation, cutout');
    const a = drawDiffAugment(new Rng(3), augments, 500, 32);
    expect(a).toEqual(drawDiffAugment(new Rng(3), augments, 500, 32));
    const range = (v: number[]) => [Math.min(...v), Math.max(...v)];
    expect(range(a.shiftH)).toEqual([-4, 4]); // int(32·0.125 + 0.5) = 4
    expect(range(a.shiftW)).toEqual([-4, 4]);
    expect(range(a.cutH)).toEqual([0, 32]); // randint(0, 32 + 1 − 16 mod 2)
    for (const r of [...a.brightness, ...a.saturation, ...a.contrast]) expect(r >= 0 && r < 1).toBe(true);
    expect(drawDiffAugment(new Rng(3), [], 4, 32)).toEqual({ brightness: [], saturation: [], contrast: [], shiftH: [], shiftW: [], cutH: [], cutW: [] });
  });

  it('is a comma list in the config, default none', () => {
    expect(parseVqganConfig({}).diffAugment).toBe('');
    expect(parseVqganConfig({ diffAugment: 'color,translation' }).diffAugment).toBe('color,translation');
    expect(() => parseVqganConfig({ diffAugment: 'colour' })).toThrow(/diffAugment: must be '' or a comma list of color, translation, cutout/);
    expect(() => parseVqganConfig({ diffAugment: true })).toThrow(/diffAugment/);
  });
});
