// Int8 weights: the per-row quantization against hand-computed values and its error bound, the
// quantized store a graph with int8 parameters is baked from, and what the lowering emits.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { Graph } from '../../src/engine/graph.ts';
import { ParamStore } from '../../src/engine/params.ts';
import { INT8_MAX, quantizeActivations, quantizeRows, quantizedParams, scaleName } from '../../src/engine/quantize.ts';
import { Rng } from '../../src/engine/rng.ts';
import { Program } from '../../src/engine/session.ts';
import { linear } from '../../src/nn/layers.ts';
import { Scope } from '../../src/nn/scope.ts';

describe('quantizeRows (per output channel, symmetric)', () => {
  it('maps each row onto −127..127 by its own largest |w| (hand-computed)', () => {
    const w = Float32Array.of(0.5, -1, 0.25, /* row 2 */ 2, 0, -0.01, /* row 3 */ 0, 0, 0);
    const q = quantizeRows(w, 3, 3);
    expect([...q.scales]).toEqual([Math.fround(1 / 127), Math.fround(2 / 127), 1]);
    expect([...q.values]).toEqual([64, -127, 32, 127, 0, -1, 0, 0, 0]); // 0.5·127 = 63.5 → 64; 0.25·127 = 31.75 → 32; −0.01·63.5 → −1
  });

  it('reconstructs every weight within half a step of its row', () => {
    const rng = new Rng(3);
    const [rows, cols] = [16, 40];
    const w = Float32Array.from({ length: rows * cols }, (_, i) => rng.normal() * (1 + (i % rows)));
    const q = quantizeRows(w, rows, cols);
    let worst = 0;
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        expect(Math.abs(q.values[i])).toBeLessThanOrEqual(INT8_MAX);
        worst = Math.max(worst, Math.abs(q.values[i] * q.scales[r] - w[i]) / (q.scales[r] / 2));
      }
    console.log(`worst reconstruction error: ${worst.toFixed(4)} of half a step`);
    expect(worst).toBeLessThanOrEqual(1 + 1e-5);
  });

  it('quantizes one weight array once, however many graphs use it', () => {
    const w = Float32Array.of(1, 2, 3, 4);
    expect(quantizeRows(w, 2, 2)).toBe(quantizeRows(w, 2, 2));
  });
});

describe('quantizeActivations (ONNX Runtime dynamic uint8 rule)', () => {
  it('range including 0, scale range/255, zero point rounded, values rounded half to even (hand-computed)', () => {
    const a = quantizeActivations([-1, 0, 0.5, 1.55]);
    expect(a.scale).toBe(Math.fround(2.55 / 255));
    expect(a.zeroPoint).toBe(100); // 1 / 0.01
    expect([...a.q]).toEqual([0, 100, 150, 255]);
    expect(quantizeActivations([0, 0]).scale).toBe(1); // an all-zero tensor keeps scale 1
    expect(quantizeActivations([2, 4]).zeroPoint).toBe(0); // all ≥ 0: the range starts at 0
  });
});

describe('int8 linear layers', () => {
  const rng = new Rng(11);
  const [inF, outF] = [64, 48];

  function build(inference: 'fp32' | 'int8' | null): Graph {
    const g = new Graph();
    g.output('y', linear(new Scope(g, 'enc', inference), g.input('x', [4, inF]), inF, outF));
    return g;
  }
  const fp = build(null);
  const params = ParamStore.init(fp, rng);

  it('bake the quantized weight and its scales, and lower to DynamicQuantizeMatMul with int8 initializers', async () => {
    const g = build('int8');
    expect([...g.params.keys()].sort()).toEqual(['enc.bias', 'enc.weight', scaleName('enc.weight')].sort());
    const q = quantizedParams(params, g);
    expect(q.get('enc.bias').data).toBe(params.get('enc.bias').data);
    expect(q.get('enc.weight').data).toBe(quantizeRows(params.get('enc.weight').data, outF, inF).values);
    const p = await Program.compile(g, { bake: q });
    const model = onnxProto.onnx.ModelProto.decode(p.model);
    const ops = model.graph!.node!.map((n) => n.opType);
    const weight = model.graph!.initializer!.find((t) => t.name === 'enc.weight')!;
    expect(ops).toContain('DynamicQuantizeMatMul');
    expect(weight.dataType).toBe(onnxProto.onnx.TensorProto.DataType.INT8);
    expect(weight.rawData!.length).toBe(outF * inF); // one byte per weight

    const x = Float32Array.from({ length: 4 * inF }, () => rng.normal());
    const ref = await Program.compile(fp, { bake: params });
    const [a, b] = [(await ref.run({ x })).y.data as Float32Array, (await p.run({ x })).y.data as Float32Array];
    const again = (await p.run({ x })).y.data as Float32Array;
    await Promise.all([p.release(), ref.release()]);
    let [err, norm] = [0, 0];
    for (let i = 0; i < a.length; i++) [err, norm] = [err + (a[i] - b[i]) ** 2, norm + a[i] ** 2];
    console.log(`int8 vs fp32 linear ${inF}→${outF}: relative RMS error ${Math.sqrt(err / norm).toExponential(2)}`);
    // x ~ N(0, 1) spans about ±3.3: a step of 6.6/255, rounding noise step/√12 ≈ 0.75% of x's RMS; the
    // weights add about a third of that. 1.5% leaves room for the draw, and a wrong scale is off by far more.
    expect(Math.sqrt(err / norm)).toBeLessThan(0.015);
    expect(again).toEqual(b); // deterministic
  });

  it('refuses to train an int8 parameter', () => {
    expect(() => new Graph().param('w', [2, 2], { kind: 'zeros' }, true, 'int8')).toThrow(/cannot be trained/);
  });
});
