// Reads an ONNX model (e.g. a feature network exported from PyTorch) into unmask graphs: its
// initializers become frozen constants, its one input is bound to a tensor the caller gives, and each
// node becomes primitives through F.* (onnx-import-ops.ts), so autodiff differentiates the network's
// outputs with respect to its input like any other part of a training graph.
import { createHash } from 'node:crypto';
import { checkInputFile } from './fs-errors.ts';
import { existsSync, readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { type DType, type Graph, GraphError, type Tensor, fmtShape } from './graph.ts';
import { type NDArray, nd } from './ndarray.ts';
import { IMPORTERS, type ImportContext } from './onnx-import-ops.ts';
import { UnmaskError, firstLine } from '../errors.ts';

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;

export class OnnxImportError extends UnmaskError {
  override name = 'OnnxImportError';
}

/** ONNX's op types that the importer lowers, in the order of onnx-import-ops.ts. */
export const SUPPORTED_ONNX_OPS = Object.keys(IMPORTERS);

export interface OnnxNet {
  file: string;
  /** Hex SHA-256 of the file's bytes, for model cards. */
  sha256: string;
  /** The one graph input: its name and declared shape (null where a dimension is symbolic). */
  input: { name: string; shape: (number | null)[] };
  /** The graph outputs, in the model's order. */
  outputs: string[];
  /** Applies the network to `x` inside x's graph, with constants in x's float dtype; returns every output. */
  apply(x: Tensor): Tensor[];
}

const DT = onnx.TensorProto.DataType;

/**
 * Reads and decodes an ONNX file, failing with one line through `fail`: "<file>: cannot read <what> —
 * check the path" or "<file>: not an ONNX model (<why>)<hint>".
 */
export function readOnnxModel(
  file: string,
  fail: (problem: string, fix: string, options: { cause: unknown }) => UnmaskError,
  what = 'the ONNX file',
  fix = 'give an .onnx file',
): { model: onnxProto.onnx.ModelProto; bytes: Uint8Array } {
  let bytes: Uint8Array;
  if (existsSync(file)) checkInputFile(file, what);
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw fail(`${file}: cannot read ${what}`, 'check the path', { cause: e });
  }
  try {
    return { model: onnx.ModelProto.decode(bytes), bytes };
  } catch (e) {
    throw fail(`${file}: not an ONNX model (${firstLine(e)})`, fix, { cause: e });
  }
}

/** Reads and checks `file`; every node's op type must be one the importer supports. */
export function loadOnnxNet(file: string): OnnxNet {
  const { model, bytes } = readOnnxModel(file, (problem, fix, options) => new OnnxImportError(problem, fix, options));
  const g = model.graph;
  if (!g || !g.node?.length) throw new OnnxImportError(`${file}: not an ONNX model (no graph nodes)`, 'give an .onnx file that holds a network');
  const opset = Number(model.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
  for (const n of g.node) {
    const where = `${file}: node '${n.name || n.output?.[0]}'`;
    if (n.domain && n.domain !== 'ai.onnx') throw new OnnxImportError(`${where} (${n.domain}.${n.opType}) is from an op domain the importer does not support`, 'export the network with standard ONNX ops only');
    if (!(n.opType! in IMPORTERS)) {
      throw new OnnxImportError(`${where} uses ${n.opType}, which the ONNX importer does not support (it supports ${SUPPORTED_ONNX_OPS.join(', ')})`, 'export the network with supported ops only');
    }
  }
  const initializers = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
  const inputs = (g.input ?? []).filter((i) => !initializers.has(i.name!));
  if (inputs.length !== 1) throw new OnnxImportError(`${file}: the network must take exactly one input, it takes ${inputs.length}`, 'export it with the image batch as its only input');
  const tt = inputs[0].type?.tensorType;
  if (tt?.elemType !== DT.FLOAT) throw new OnnxImportError(`${file}: the input '${inputs[0].name}' must be float32`, 'export it with a float32 image input');
  const shape = (tt.shape?.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : null));
  const outputs = (g.output ?? []).map((o) => o.name!);
  const decoded = new Map<string, NDArray>();
  const constant = (name: string): NDArray | undefined => {
    const t = initializers.get(name);
    if (!t) return undefined;
    let v = decoded.get(name);
    if (!v) decoded.set(name, (v = decodeTensor(t, `${file}: initializer '${name}'`)));
    return v;
  };
  // Initializer constants per graph, so that applying the network twice in one graph (to real and to
  // reconstructed images) stores its weights once in the lowered model.
  const weights = new WeakMap<Graph, Map<string, Tensor>>();
  return {
    file,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    input: { name: inputs[0].name!, shape },
    outputs,
    apply: (x) => applyNet(file, opset, g.node!, inputs[0].name!, shape, outputs, constant, weights, x),
  };
}

function applyNet(
  file: string,
  opset: number,
  nodes: NodeProto[],
  inputName: string,
  declared: (number | null)[],
  outputs: string[],
  initializer: (name: string) => NDArray | undefined,
  weightCache: WeakMap<Graph, Map<string, Tensor>>,
  x: Tensor,
): Tensor[] {
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new OnnxImportError(`${file}: the input must be float, got ${x}`, 'feed it float images');
  if (declared.length !== x.rank || declared.some((d, i) => d !== null && d !== x.shape[i])) {
    throw new OnnxImportError(`${file}: the network's input '${inputName}' is [${declared.map((d) => d ?? '?').join(', ')}], got ${fmtShape(x.shape)}`, 'export it for this image size, or resize the images');
  }
  const values = new Map<string, Tensor>([[inputName, x]]);
  let weights = weightCache.get(x.graph);
  if (!weights) weightCache.set(x.graph, (weights = new Map()));
  const value = (name: string): Tensor => {
    const t = values.get(name) ?? weights.get(`${x.dtype}:${name}`);
    if (t) return t;
    const c = initializer(name);
    if (!c) throw new GraphError(`no value named '${name}'`);
    const w = x.graph.constant(isFloatType(c.dtype) ? { ...c, dtype: x.dtype } : c);
    weights.set(`${x.dtype}:${name}`, w);
    return w;
  };
  for (const n of nodes) {
    const ctx = new NodeContext(n, x.graph, opset, x.dtype, value);
    let outs: Tensor[];
    try {
      outs = IMPORTERS[n.opType as keyof typeof IMPORTERS](ctx);
      ctx.checkAttributesUsed();
      const extra = (n.output ?? []).slice(outs.length).find((o) => o);
      if (extra) throw new GraphError(`its output '${extra}' is not supported (only the first ${outs.length})`);
    } catch (e) {
      if (!(e instanceof GraphError)) throw e;
      throw new OnnxImportError(`${file}: node '${n.name || n.output?.[0]}' (${n.opType}): ${e.message}`, 'export the network for the input shape given here', { cause: e });
    }
    outs.forEach((t, i) => values.set(n.output![i], t));
  }
  return outputs.map((o) => value(o));
}

const isFloatType = (d: DType) => d === 'float32' || d === 'float64';

/** What an op importer sees of one node: its inputs as tensors or static values, and its attributes. */
class NodeContext implements ImportContext {
  private used = new Set<string>();
  constructor(
    private node: NodeProto,
    readonly graph: Graph,
    readonly opset: number,
    readonly float: DType,
    private value: (name: string) => Tensor,
  ) {}

  get inputCount(): number {
    return (this.node.input ?? []).length;
  }

  has(i: number): boolean {
    return !!this.node.input?.[i];
  }

  input(i: number): Tensor {
    const name = this.node.input?.[i];
    if (!name) throw new GraphError(`input ${i} is missing`);
    return this.value(name);
  }

  ints(i: number): number[] {
    return Array.from(this.staticValue(i).data);
  }

  staticValue(i: number): NDArray {
    const t = this.input(i);
    if (t.source.kind === 'const') return t.source.value;
    throw new GraphError(`input ${i} ('${this.node.input![i]}') must be a constant, but it is computed from the image`);
  }

  private attribute(name: string): onnxProto.onnx.IAttributeProto | undefined {
    this.used.add(name);
    return this.node.attribute?.find((a) => a.name === name);
  }

  attrInt(name: string, dflt: number): number {
    const a = this.attribute(name);
    return a ? Number(a.i) : dflt;
  }

  attrInts(name: string, dflt: number[]): number[] {
    const a = this.attribute(name);
    return a ? (a.ints ?? []).map(Number) : dflt;
  }

  attrFloat(name: string, dflt: number): number {
    const a = this.attribute(name);
    return a ? Number(a.f) : dflt;
  }

  attrFloats(name: string, dflt: number[]): number[] {
    const a = this.attribute(name);
    return a ? (a.floats ?? []).map(Number) : dflt;
  }

  attrString(name: string, dflt: string): string {
    const a = this.attribute(name);
    return a ? new TextDecoder().decode(a.s ?? new Uint8Array()) : dflt;
  }

  attrTensor(name: string): NDArray | undefined {
    const a = this.attribute(name);
    return a?.t ? decodeTensor(a.t, `attribute '${name}'`) : undefined;
  }

  /** Attributes the importer did not read would change the op's meaning silently: refuse them. */
  checkAttributesUsed(): void {
    for (const a of this.node.attribute ?? []) {
      if (!this.used.has(a.name!)) throw new GraphError(`attribute '${a.name}' is not supported`);
    }
  }
}

/** An ONNX tensor's values as an NDArray (float32/float64 → float32, int32/int64 → int64, bool). */
function decodeTensor(t: TensorProto, what: string): NDArray {
  const shape = (t.dims ?? []).map(Number);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw new OnnxImportError(`${what} is stored in an external file`, 're-export the model with its weights inside the .onnx file');
  }
  const raw = t.rawData?.length ? t.rawData : null;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : null;
  const n = shape.reduce((a, b) => a * b, 1);
  const read = (size: number, get: (v: DataView, off: number) => number, field: ArrayLike<number | { toNumber(): number }> | null | undefined) =>
    Array.from({ length: n }, (_, i) => {
      if (view) return get(view, i * size);
      const v = field?.[i] ?? 0;
      return typeof v === 'number' ? v : v.toNumber();
    });
  switch (t.dataType) {
    case DT.FLOAT:
      return nd(shape, 'float32', read(4, (v, o) => v.getFloat32(o, true), t.floatData));
    case DT.DOUBLE:
      return nd(shape, 'float32', read(8, (v, o) => v.getFloat64(o, true), t.doubleData).map(Math.fround));
    case DT.INT64:
      return nd(shape, 'int64', read(8, (v, o) => Number(v.getBigInt64(o, true)), t.int64Data as ArrayLike<number | { toNumber(): number }>));
    case DT.INT32:
      return nd(shape, 'int64', read(4, (v, o) => v.getInt32(o, true), t.int32Data));
    case DT.BOOL:
      return nd(shape, 'bool', read(1, (v, o) => v.getUint8(o), t.int32Data));
    default:
      throw new OnnxImportError(`${what} has ONNX data type ${t.dataType}, which the importer does not read`, 'store weights as float, double, int32, int64 or bool');
  }
}
