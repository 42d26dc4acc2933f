// The ONNX importer and the perceptual distance built on it, against PyTorch 1.13
// (reference/make_onnx_import_fixture.py exported test/fixtures/onnx-import/featnet.onnx and computed
// featnet.json): the imported network's outputs, the distance, and its gradient with respect to the
// input, through the float64 reference evaluator and through ONNX Runtime in float32. Then composed
// pools against finite differences, shape arithmetic nodes, and the one-line errors people see.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { grad } from '../../src/engine/autodiff.ts';
import { Graph, type Tensor } from '../../src/engine/graph.ts';
import { type NDArray, nd } from '../../src/engine/ndarray.ts';
import { loadOnnxNet } from '../../src/engine/onnx-import.ts';
import { evaluate } from '../../src/engine/reference.ts';
import { Rng } from '../../src/engine/rng.ts';
import { Program } from '../../src/engine/session.ts';
import { checkPerceptualNet, perceptualDistance } from '../../src/models/perceptual.ts';
import { parseVqganConfig } from '../../src/models/vqgan-config.ts';
import { gradCheck } from '../helpers/gradcheck.ts';
import { randn } from '../helpers/opcase.ts';

const { onnx } = onnxProto;
const DIR = join(import.meta.dirname, '..', 'fixtures', 'onnx-import');
const NET = join(DIR, 'featnet.onnx');

interface T {
  shape: number[];
  data: number[];
}
const fx = JSON.parse(readFileSync(join(DIR, 'featnet.json'), 'utf8')) as {
  x: T;
  y: T;
  forward: Record<string, T>;
  distance: number;
  grad: T;
  gray: { x: T; y: T; distance: number; grad: T };
};

/**
 * float64 (reference evaluator) vs PyTorch in float64 on the same float32 weights and inputs: the fixture
 * holds 10 significant digits, so |ours − torch| ≤ F64_TOL·(1 + |torch|) leaves room only for that rounding.
 * float32 (ONNX Runtime) vs the same values: float32 rounding through a few convs and the normalisation,
 * |ours − torch| ≤ F32_ATOL + F32_RTOL·|torch|, scaled to the tensor's largest value for gradients (whose
 * small elements are differences of larger terms).
 */
const F64_TOL = 1e-8;
const F32_ATOL = 1e-5;
const F32_RTOL = 1e-4;

const input = (t: T, dtype: 'float32' | 'float64'): NDArray => nd(t.shape, dtype, t.data.map(Math.fround));

/** max |a − b| / (atol + rtol·|b|) over the elements, and max |a − b|. */
function compare(a: ArrayLike<number>, b: number[], atol: number, rtol: number): { used: number; maxAbs: number } {
  expect(a.length).toBe(b.length);
  let used = 0;
  let maxAbs = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    maxAbs = Math.max(maxAbs, d);
    used = Math.max(used, Number.isNaN(d) ? Infinity : d / (atol + rtol * Math.abs(b[i])));
  }
  return { used, maxAbs };
}

const maxAbsOf = (t: T) => t.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** The distance between x and y and its gradient in y, through `net` with inputs of `dtype`. */
function distanceGraph(xs: T, dtype: 'float32' | 'float64') {
  const g = new Graph();
  const x = g.input('x', xs.shape, dtype);
  const y = g.input('y', xs.shape, dtype);
  const d = perceptualDistance(loadOnnxNet(NET), x, y);
  const [dy] = grad(d, [y]);
  return { g, d, dy };
}

async function runOrt(g: Graph, outputs: Record<string, Tensor>, feeds: Record<string, NDArray>) {
  const program = await Program.compile(g, { outputs, threads: 1 });
  try {
    return await program.run(Object.fromEntries(program.inputs.map((f) => [f.name, Float32Array.from(feeds[f.name].data)])));
  } finally {
    await program.release();
  }
}

describe('ONNX import of a PyTorch feature network', () => {
  it('matches PyTorch forward, float64 reference and float32 ONNX Runtime', async () => {
    const net = loadOnnxNet(NET);
    expect(net.outputs).toEqual(['relu1', 'sigmoid2', 'linear3']);
    expect(net.input).toEqual({ name: 'image', shape: [null, 3, 16, 16] });
    for (const dtype of ['float64', 'float32'] as const) {
      const g = new Graph();
      const x = g.input('x', fx.x.shape, dtype);
      const outs = net.apply(x);
      const feeds = { x: input(fx.x, dtype) };
      const got =
        dtype === 'float64'
          ? evaluate(g, feeds, outs).map((v) => v.data)
          : Object.values(await runOrt(g, Object.fromEntries(net.outputs.map((n, i) => [n, outs[i]])), feeds)).map((v) => v.data as Float32Array);
      net.outputs.forEach((name, i) => {
        const want = fx.forward[name];
        const r = dtype === 'float64' ? compare(got[i], want.data, F64_TOL, F64_TOL) : compare(got[i], want.data, F32_ATOL, F32_RTOL);
        console.log(`featnet ${name} ${dtype}: max |ours − torch| ${r.maxAbs.toExponential(2)} (${(100 * r.used).toFixed(1)}% of tolerance)`);
        expect(r.used).toBeLessThanOrEqual(1);
      });
    }
  });

  for (const [label, xs, ys, want, wantGrad] of [
    ['3-channel 16×16', fx.x, fx.y, fx.distance, fx.grad],
    ['1-channel 20×20 (repeated, resized)', fx.gray.x, fx.gray.y, fx.gray.distance, fx.gray.grad],
  ] as const) {
    it(`perceptual distance and its input gradient match PyTorch autograd: ${label}`, async () => {
      const ref = distanceGraph(xs, 'float64');
      const [d64, g64] = evaluate(ref.g, { x: input(xs, 'float64'), y: input(ys, 'float64') }, [ref.d, ref.dy]);
      const scale = maxAbsOf(wantGrad);
      const r64 = compare(g64.data, wantGrad.data, F64_TOL * scale, 0);
      console.log(`${label} float64: distance ${d64.data[0]} vs torch ${want}; gradient max |Δ| ${r64.maxAbs.toExponential(2)} (max |grad| ${scale.toExponential(2)})`);
      expect(Math.abs(d64.data[0] - want)).toBeLessThanOrEqual(F64_TOL * want);
      expect(r64.used).toBeLessThanOrEqual(1);

      const ort = distanceGraph(xs, 'float32');
      const out = await runOrt(ort.g, { d: ort.d, dy: ort.dy }, { x: input(xs, 'float32'), y: input(ys, 'float32') });
      const d32 = Number(out.d.data[0]);
      const r32 = compare(out.dy.data as Float32Array, wantGrad.data, F32_RTOL * scale, 0);
      console.log(`${label} float32 ORT: distance ${d32} (rel. error ${(Math.abs(d32 - want) / want).toExponential(2)}); gradient max |Δ| ${r32.maxAbs.toExponential(2)} = ${(r32.maxAbs / scale).toExponential(2)} of max |grad|`);
      expect(Math.abs(d32 - want)).toBeLessThanOrEqual(F32_RTOL * want);
      expect(r32.used).toBeLessThanOrEqual(1);
    });
  }
});

// ---- hand-made models: composed pools, shape arithmetic, errors ----

const tmp = mkdtempSync(join(tmpdir(), 'unmask-onnx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Attr = number | number[] | string;

function node(opType: string, input: string[], output: string[], attrs: Record<string, Attr> = {}, name = `${opType.toLowerCase()}_${output[0]}`) {
  const A = onnx.AttributeProto.AttributeType;
  const attribute = Object.entries(attrs).map(([k, v]) =>
    typeof v === 'string' ? { name: k, type: A.STRING, s: new TextEncoder().encode(v) } : Array.isArray(v) ? { name: k, type: A.INTS, ints: v } : { name: k, type: A.INT, i: v },
  );
  return { opType, input, output, name, attribute };
}

const valueInfo = (name: string, shape: (number | string)[]) => ({
  name,
  type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
});

/** Writes a one-input model and returns its path. */
function writeModel(file: string, nodes: ReturnType<typeof node>[], inShape: (number | string)[], outputs: string[], inits: { name: string; dims: number[]; int64?: number[]; float?: number[] }[] = []): string {
  const initializer = inits.map((t) =>
    t.int64
      ? { name: t.name, dims: t.dims, dataType: onnx.TensorProto.DataType.INT64, int64Data: t.int64 }
      : { name: t.name, dims: t.dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: t.float },
  );
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'g', node: nodes, initializer, input: [valueInfo('x', inShape)], output: outputs.map((o) => valueInfo(o, [])) },
  });
  const path = join(tmp, file);
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
  return path;
}

describe('ONNX import: composed ops', () => {
  const rng = new Rng(31);

  it('MaxPool and AveragePool with padding and ceil_mode match a direct loop, pass gradient checks, and run in ONNX Runtime', async () => {
    const pools = writeModel(
      'pools.onnx',
      [
        node('MaxPool', ['x'], ['m'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }),
        node('AveragePool', ['x'], ['a'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 0, 1, 0], count_include_pad: 0 }),
        node('AveragePool', ['x'], ['ai'], { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 }),
      ],
      [1, 2, 6, 6],
      ['m', 'a', 'ai'],
    );
    const net = loadOnnxNet(pools);
    const x = randn(rng, [1, 2, 6, 6]);
    const g = new Graph();
    const [m, a, ai] = net.apply(g.input('x', [1, 2, 6, 6], 'float64'));
    expect([m.shape, a.shape, ai.shape]).toEqual([[1, 2, 4, 4], [1, 2, 3, 2], [1, 2, 4, 4]]);
    const [mv, av, aiv] = evaluate(g, { x }, [m, a, ai]).map((v) => v.data);
    // Direct loops: window rows/cols clipped to the input (max, exclude-pad mean) or to the padded input.
    const at = (c: number, y: number, xx: number) => x.data[(c * 6 + y) * 6 + xx];
    for (let c = 0; c < 2; c++)
      for (let oy = 0; oy < 4; oy++)
        for (let ox = 0; ox < 4; ox++) {
          let best = -Infinity;
          for (let y = oy * 2 - 1; y < oy * 2 + 2; y++) for (let xx = ox * 2 - 1; xx < ox * 2 + 2; xx++) if (y >= 0 && y < 6 && xx >= 0 && xx < 6) best = Math.max(best, at(c, y, xx));
          expect(mv[(c * 4 + oy) * 4 + ox]).toBe(best);
          let s = 0;
          for (let y = oy * 2 - 1; y < oy * 2 + 1; y++) for (let xx = ox * 2 - 1; xx < ox * 2 + 1; xx++) if (y >= 0 && y < 6 && xx >= 0 && xx < 6) s += at(c, y, xx);
          expect(aiv[(c * 4 + oy) * 4 + ox]).toBeCloseTo(s / 4, 12);
        }
    for (let c = 0; c < 2; c++)
      for (let oy = 0; oy < 3; oy++)
        for (let ox = 0; ox < 2; ox++) {
          let [s, n] = [0, 0];
          for (let y = oy * 2 - 1; y < oy * 2 + 2; y++) for (let xx = ox * 2; xx < ox * 2 + 3; xx++) if (y >= 0 && y < 6 && xx < 6) [s, n] = [s + at(c, y, xx), n + 1];
          expect(av[(c * 3 + oy) * 2 + ox]).toBeCloseTo(s / n, 12);
        }
    // ONNX Runtime runs the same lowering (Pad with −∞, strided Slices, Max; depthwise Conv) in float32.
    const g32 = new Graph();
    const outs32 = net.apply(g32.input('x', [1, 2, 6, 6]));
    const ort = await runOrt(g32, { m: outs32[0], a: outs32[1], ai: outs32[2] }, { x });
    for (const [k, want] of [mv, av, aiv].entries()) {
      const r = compare(Object.values(ort)[k].data as Float32Array, Array.from(want), F32_ATOL, F32_RTOL);
      expect(r.used).toBeLessThanOrEqual(1);
    }
    for (const [k, name] of ['m', 'a', 'ai'].entries()) {
      const r = gradCheck({ name, ops: [], inputs: { x }, build: ({ x: t }) => net.apply(t)[k] });
      console.log(`gradient check ${['MaxPool 3×3/2 pad 1 ceil', 'AveragePool 3×3/2 exclude pad', 'AveragePool 2×2/2 include pad'][k]}: max |autodiff − fd| ${r.maxAbs.toExponential(2)} over ${r.count}`);
      expect(r.used, r.worst).toBeLessThanOrEqual(1);
    }
  });

  it('folds Shape → Gather → Unsqueeze → Concat into a Reshape target; Gemm, Clip, GlobalAveragePool, Transpose', () => {
    const file = writeModel(
      'flatten.onnx',
      [
        node('GlobalAveragePool', ['x'], ['p']),
        node('Shape', ['p'], ['s']),
        node('Gather', ['s', 'zero'], ['b'], { axis: 0 }),
        node('Unsqueeze', ['b', 'axes0'], ['b1']),
        node('Concat', ['b1', 'minus1'], ['target'], { axis: 0 }),
        node('Reshape', ['p', 'target'], ['flat']),
        node('Gemm', ['flat', 'w'], ['lin'], { transB: 1 }),
        node('Clip', ['lin', 'lo'], ['clipped']),
        node('Transpose', ['clipped'], ['out'], { perm: [1, 0] }),
      ],
      ['batch', 3, 4, 4],
      ['out'],
      [
        { name: 'zero', dims: [], int64: [0] },
        { name: 'axes0', dims: [1], int64: [0] },
        { name: 'minus1', dims: [1], int64: [-1] },
        { name: 'w', dims: [2, 3], float: [1, -2, 0.5, -1, 0.25, 3] },
        { name: 'lo', dims: [], float: [-0.5] },
      ],
    );
    const x = randn(rng, [2, 3, 4, 4]);
    const g = new Graph();
    const [out] = loadOnnxNet(file).apply(g.input('x', [2, 3, 4, 4], 'float64'));
    expect(out.shape).toEqual([2, 2]);
    const got = evaluate(g, { x }, [out])[0].data;
    const w = [1, -2, 0.5, -1, 0.25, 3];
    for (let b = 0; b < 2; b++) {
      const mean = [0, 1, 2].map((c) => x.data.slice((b * 3 + c) * 16, (b * 3 + c + 1) * 16).reduce((s, v) => s + v, 0) / 16);
      for (let o = 0; o < 2; o++) expect(got[o * 2 + b]).toBeCloseTo(Math.max(-0.5, mean[0] * w[o * 3] + mean[1] * w[o * 3 + 1] + mean[2] * w[o * 3 + 2]), 12);
    }
  });
});

describe('ONNX import: errors are one line naming the problem', () => {
  const oneLine = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      const m = (e as Error).message;
      expect(m).not.toContain('\n');
      return m;
    }
    throw new Error('expected an error');
  };

  it('names an unsupported op and its node', () => {
    const file = writeModel('cumsum.onnx', [node('Relu', ['x'], ['r']), node('CumSum', ['r', 'ax'], ['y'], {}, 'running_total')], [1, 3, 8, 8], ['y'], [{ name: 'ax', dims: [], int64: [1] }]);
    expect(oneLine(() => loadOnnxNet(file))).toMatch(/cumsum\.onnx: node 'running_total' uses CumSum, which the ONNX importer does not support \(it supports Conv, Relu, /);
  });

  it('names an unsupported attribute and its node', () => {
    const file = writeModel('same.onnx', [node('Conv', ['x', 'w'], ['y'], { kernel_shape: [1, 1], auto_pad: 'SAME_UPPER' }, 'conv_same')], [1, 1, 4, 4], ['y'], [{ name: 'w', dims: [1, 1, 1, 1], float: [2] }]);
    expect(oneLine(() => checkPerceptualNet(file, 1, 4))).toMatch(/same\.onnx: node 'conv_same' \(Conv\): auto_pad SAME_UPPER is not supported/);
    const odd = writeModel('storage.onnx', [node('Relu', ['x'], ['y'], { storage_order: 1 }, 'relu_attr')], [1, 1, 4, 4], ['y']);
    expect(oneLine(() => checkPerceptualNet(odd, 1, 4))).toMatch(/node 'relu_attr' \(Relu\): attribute 'storage_order' is not supported/);
  });

  it('refuses a network whose input is not an image batch', () => {
    const file = writeModel('vector.onnx', [node('Relu', ['x'], ['y'])], ['batch', 48], ['y']);
    expect(oneLine(() => checkPerceptualNet(file, 3, 4))).toMatch(/vector\.onnx: the network takes rank-2 input \[\?, 48\]; a perceptual network must take images \[B, C, H, W\]/);
    const rgbOnly = writeModel('rgb.onnx', [node('Relu', ['x'], ['y'])], ['batch', 3, 8, 8], ['y']);
    expect(oneLine(() => checkPerceptualNet(rgbOnly, 2, 8))).toMatch(/takes 3-channel images, these have 2/);
  });

  it('names a missing file, in the config too', () => {
    expect(oneLine(() => checkPerceptualNet(join(tmp, 'nowhere.onnx'), 1, 32))).toMatch(/nowhere\.onnx: cannot read the ONNX file — check the path/);
    expect(parseVqganConfig({ perceptual: 'nets/vgg.onnx' }).perceptual).toBe('nets/vgg.onnx');
    expect(() => parseVqganConfig({ perceptual: 'vgg.pth' })).toThrow(/perceptual: must be 'none', 'disc-features' or the path of an \.onnx feature network/);
  });
});
