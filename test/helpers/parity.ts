// Parity: the same graph through ONNX Runtime (the op lowerings) and through the float64 reference
// evaluator (the op semantics), in float32 or float64, optionally with the gradients of loss = Σ output·R.
import onnxProto from 'onnx-proto';
import * as F from '../../src/engine/api.ts';
import { grad } from '../../src/engine/autodiff.ts';
import { Graph, type Tensor, fmtShape } from '../../src/engine/graph.ts';
import type { NDArray } from '../../src/engine/ndarray.ts';
import { evaluate } from '../../src/engine/reference.ts';
import { Rng } from '../../src/engine/rng.ts';
import type { HostTensor } from '../../src/engine/runtime.ts';
import { Program } from '../../src/engine/session.ts';
import { type OpCase, declareInputs, isFloat, randn } from './opcase.ts';
import { PARITY64_ATOL, PARITY64_RTOL, PARITY_ATOL, PARITY_RTOL } from './tolerances.ts';

export interface ParityResult {
  /** Per compared tensor ('y', and 'dX' for each float input X with grads): the largest |ort − ref|. */
  maxAbs: Record<string, number>;
  /** The largest fraction of the allowed ATOL + RTOL·|ref| any element uses (≤ 1 passes; Infinity for a shape or exact-value mismatch). */
  used: number;
  /** What went wrong, when something did. */
  problems: string[];
  /** The ONNX op types the model contains, to confirm which lowerings ran. */
  onnxOps: string[];
}

/** ORT and reference outputs of the case's graph with `float` inputs (and its gradients, when `withGrads`). */
export async function parity(c: OpCase, withGrads: boolean, float: 'float32' | 'float64' = 'float32', seed = 7): Promise<ParityResult> {
  const [atol, rtol] = float === 'float32' ? [PARITY_ATOL, PARITY_RTOL] : [PARITY64_ATOL, PARITY64_RTOL];
  const g = new Graph();
  const xs = declareInputs(g, c, float);
  const y = c.build(xs);
  const outputs: Record<string, Tensor> = { y };
  if (withGrads) {
    const r = g.constant({ ...randn(new Rng(seed), y.shape), dtype: y.dtype });
    const loss = F.reduceSum(F.mul(y, r));
    const names = Object.keys(c.inputs).filter((k) => isFloat(c.inputs[k].dtype));
    grad(loss, names.map((k) => xs[k])).forEach((t, i) => (outputs[`d${names[i]}`] = t));
  }

  const feeds: Record<string, NDArray> = {};
  const host: Record<string, HostTensor> = {};
  for (const [name, v] of Object.entries(c.inputs)) {
    const t = xs[name];
    feeds[name] = { shape: v.shape, dtype: t.dtype, data: t.dtype === 'float32' ? v.data.map(Math.fround) : v.data };
    host[name] = { dtype: t.dtype, shape: v.shape, data: toHost(feeds[name]) };
  }
  const ref = evaluate(g, feeds, Object.values(outputs));
  const program = await Program.compile(g, { outputs, threads: 1 });
  let got: Record<string, HostTensor>;
  try {
    got = await program.run(Object.fromEntries(program.inputs.map((f) => [f.name, host[f.name]])));
  } finally {
    await program.release();
  }

  const r: ParityResult = { maxAbs: {}, used: 0, problems: [], onnxOps: onnxOpTypes(program.model) };
  Object.keys(outputs).forEach((name, k) => {
    const want = ref[k];
    const have = got[name];
    if (fmtShape(have.shape) !== fmtShape(want.shape) || have.dtype !== want.dtype) {
      r.problems.push(`${name}: ORT gave ${have.dtype}${fmtShape(have.shape)}, reference ${want.dtype}${fmtShape(want.shape)}`);
      r.used = Infinity;
      return;
    }
    const exact = !isFloat(want.dtype);
    let abs = 0;
    for (let i = 0; i < want.data.length; i++) {
      const d = Math.abs(Number(have.data[i]) - want.data[i]);
      abs = Math.max(abs, d);
      const used = Number.isNaN(d) ? Infinity : exact ? (d === 0 ? 0 : Infinity) : d / (atol + rtol * Math.abs(want.data[i]));
      if (used > 1 && r.used <= 1) r.problems.push(`${name}[${i}]: ORT ${have.data[i]}, reference ${want.data[i]}`);
      r.used = Math.max(r.used, used);
    }
    r.maxAbs[name] = abs;
  });
  return r;
}

function toHost(v: NDArray): HostTensor['data'] {
  switch (v.dtype) {
    case 'float32':
      return Float32Array.from(v.data);
    case 'float64':
      return Float64Array.from(v.data);
    case 'int64':
      return BigInt64Array.from(v.data, (x) => BigInt(x));
    case 'bool':
      return Uint8Array.from(v.data);
    case 'int8':
      return Int8Array.from(v.data);
  }
}

/** The distinct op types of a serialized model, read back through the same protobuf types. */
function onnxOpTypes(model: Uint8Array): string[] {
  return [...new Set(onnxProto.onnx.ModelProto.decode(model).graph?.node?.map((n) => n.opType ?? '') ?? [])].sort();
}
