// Int8 inference: weights quantized once, per output channel, symmetric; activations quantized on the
// fly by ONNX Runtime (DynamicQuantizeMatMul, the `dynamicQuantizeMatmul` op). Products then run on
// 8-bit integer dot-product instructions (AVX512-VNNI / AVX-VNNI on x86, SDOT on ARM).
import { type Graph, GraphError, type Tensor } from './graph.ts';
import { ParamStore } from './params.ts';

/** Numeric precision of an inference graph's linear layers. */
export type Precision = 'fp32' | 'int8';
export const PRECISIONS: readonly Precision[] = ['fp32', 'int8'];

/** Largest |q| of a weight: the symmetric int8 range −127..127 (−128 unused, so the grid is symmetric). */
export const INT8_MAX = 127;

/** The per-channel scales that go with the int8 parameter `weightName`. */
export function scaleName(weightName: string): string {
  return `${weightName}_scale`;
}

export interface QuantizedRows {
  /** Integers in −127..127, row-major like the input (Float32Array, as every ParamStore value). */
  values: Float32Array;
  /** One scale per row: w ≈ values · scale. */
  scales: Float32Array;
}

const cache = new WeakMap<Float32Array, QuantizedRows>();

/**
 * w [rows, cols] → q = round(w / s_r) with s_r = max_c |w[r, c]| / 127, one scale per row (a Linear
 * weight [out, in] gets one per output channel: outliers in one channel cost the others nothing).
 * Memoised per weight array, so every graph built from one store shares a single quantization.
 */
export function quantizeRows(w: Float32Array, rows: number, cols: number): QuantizedRows {
  const hit = cache.get(w);
  if (hit) return hit;
  if (w.length !== rows * cols) throw new GraphError(`quantizeRows: ${w.length} values are not ${rows}×${cols}`);
  const values = new Float32Array(w.length);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[r * cols + c]));
    const s = m > 0 ? Math.fround(m / INT8_MAX) : 1;
    scales[r] = s;
    for (let c = 0; c < cols; c++) values[r * cols + c] = Math.round(w[r * cols + c] / s);
  }
  const q = { values, scales };
  cache.set(w, q);
  return q;
}

/**
 * The store to bake into `graph`: every int8 parameter it declares (a Linear's weight [out, in]) holds
 * the quantized integers of the float weight of the same name, and its scaleName() the row scales;
 * every other parameter is the original array.
 */
export function quantizedParams(store: ParamStore, graph: Graph): ParamStore {
  const out = new ParamStore();
  for (const p of graph.params.values()) {
    if (p.tensor.dtype !== 'int8' || out.has(p.name)) continue;
    const w = store.get(p.name);
    if (w.shape.length !== 2) throw new GraphError(`quantize: '${p.name}' must be 2-D, got [${w.shape.join(',')}]`);
    const q = quantizeRows(w.data, w.shape[0], w.shape[1]);
    out.set(p.name, w.shape, q.values);
    out.set(scaleName(p.name), [w.shape[0]], q.scales);
  }
  for (const p of graph.params.values()) if (!out.has(p.name)) out.set(p.name, store.get(p.name).shape, store.get(p.name).data);
  return out;
}

/** An int8 weight parameter and its scales, declared together (see quantizedParams). */
export function int8Param(graph: Graph, name: string, rows: number, cols: number): { weight: Tensor; scale: Tensor } {
  return {
    weight: graph.param(name, [rows, cols], { kind: 'zeros' }, false, 'int8'),
    scale: graph.param(scaleName(name), [rows], { kind: 'ones' }, false),
  };
}

export interface ActivationQuantization {
  scale: number;
  zeroPoint: number;
  /** uint8 values: x ≈ (q − zeroPoint) · scale. */
  q: Float64Array;
}

const roundHalfEven = (v: number) => {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/**
 * ONNX Runtime's dynamic uint8 quantization of a whole float32 tensor (DynamicQuantizeLinear's rule):
 * the range [min(x, 0), max(x, 0)] maps onto 0..255, scale = range / 255, the zero point is 0 − min / scale
 * rounded half to even, and q = clamp(round_half_even(x / scale) + zeroPoint, 0, 255), all in float32.
 */
export function quantizeActivations(x: ArrayLike<number>): ActivationQuantization {
  let min = 0;
  let max = 0;
  for (let i = 0; i < x.length; i++) {
    min = Math.min(min, x[i]);
    max = Math.max(max, x[i]);
  }
  const scale = max === min ? 1 : Math.fround((max - min) / 255);
  const zeroPoint = roundHalfEven(Math.min(255, Math.max(0, Math.fround(0 - Math.fround(min / scale)))));
  const q = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = Math.min(255 - zeroPoint, Math.max(-zeroPoint, Math.fround(x[i] / scale)));
    q[i] = roundHalfEven(v) + zeroPoint;
  }
  return { scale, zeroPoint, q };
}
