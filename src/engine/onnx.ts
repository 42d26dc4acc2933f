// Lowers a Graph to an ONNX ModelProto through the generated protobuf types (onnx-proto).
import onnxProto from 'onnx-proto';
import { type DType, type Graph, GraphError, type Node, type Shape, type Tensor, fmtShape } from './graph.ts';
import { type NDArray, broadcastShapes } from './ndarray.ts';
import { TABLE } from './ops/table.ts';
import type { OpName } from './ops/types.ts';

const { onnx } = onnxProto;
export const OPSET = 17;

const ONNX_DTYPE: Record<DType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
  int8: onnx.TensorProto.DataType.INT8,
};

/** ONNX Runtime's contrib operator domain (kernels outside the ONNX standard, e.g. DynamicQuantizeMatMul). */
export const MS_DOMAIN = 'com.microsoft';

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

export function tensorProto(name: string, shape: Shape, dtype: DType, data: ArrayLike<number>): onnxProto.onnx.ITensorProto {
  const n = data.length;
  let raw: Uint8Array;
  if (dtype === 'float32') raw = new Uint8Array(Float32Array.from(data).buffer);
  else if (dtype === 'float64') raw = new Uint8Array(Float64Array.from(data).buffer);
  else if (dtype === 'int8') raw = new Uint8Array(Int8Array.from(data).buffer);
  else if (dtype === 'int64') {
    const b = new BigInt64Array(n);
    for (let i = 0; i < n; i++) b[i] = BigInt(data[i]);
    raw = new Uint8Array(b.buffer);
  } else raw = Uint8Array.from(data, (v) => (v ? 1 : 0));
  return { name, dims: [...shape], dataType: ONNX_DTYPE[dtype], rawData: raw };
}

/** Collects nodes and initializers for one graph; op rules call node() and the const helpers. */
export class OnnxEmitter {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private consts = new Map<string, string>();
  private counter = 0;

  tmp(hint = 't'): string {
    return `_${hint}${this.counter++}`;
  }

  /** Appends a node; `domain` names a non-standard operator set such as MS_DOMAIN. */
  node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}, domain = ''): void {
    const attribute: onnxProto.onnx.IAttributeProto[] = [];
    for (const [name, v] of Object.entries(attrs)) {
      const A = onnx.AttributeProto.AttributeType;
      if (typeof v === 'string') attribute.push({ name, type: A.STRING, s: new TextEncoder().encode(v) });
      else if (typeof v === 'number') attribute.push({ name, type: A.INT, i: v });
      else if (Array.isArray(v)) attribute.push({ name, type: A.INTS, ints: v });
      else if ('float' in v) attribute.push({ name, type: A.FLOAT, f: v.float });
      else attribute.push({ name, type: A.FLOATS, floats: v.floats });
    }
    this.nodes.push({ opType, ...(domain ? { domain } : {}), input: inputs, output: outputs, name: `${opType}_${this.nodes.length}`, attribute });
  }

  /** Appends a node of ONNX Runtime's contrib operator set (MS_DOMAIN), e.g. DynamicQuantizeMatMul. */
  contrib(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}): void {
    this.node(opType, inputs, outputs, attrs, MS_DOMAIN);
  }

  /** A 1-D int64 initializer (shapes, axes, pads), shared between nodes. */
  constI64(values: number[]): string {
    return this.constOf([values.length], 'int64', values);
  }

  scalar(v: number, dtype: DType): string {
    return this.constOf([], dtype, [v]);
  }

  constOf(shape: Shape, dtype: DType, values: ArrayLike<number>): string {
    const small = values.length <= 16;
    const key = small ? `${dtype}|${shape.join(',')}|${Array.from(values).join(',')}` : '';
    if (small && this.consts.has(key)) return this.consts.get(key)!;
    const name = this.tmp('c');
    this.initializers.push(tensorProto(name, shape, dtype, values));
    if (small) this.consts.set(key, name);
    return name;
  }
}

export interface LowerOptions {
  /** Graph outputs by name (defaults to graph.outputs). */
  outputs?: Map<string, Tensor>;
  /** Parameters baked in as initializers (inference); the rest become graph inputs (training). */
  paramValues?: Map<string, Float32Array>;
}

/** Lowers the part of `graph` that the outputs depend on. */
export function lowerToOnnx(graph: Graph, opts: LowerOptions = {}): onnxProto.onnx.ModelProto {
  const outputs = opts.outputs ?? graph.outputs;
  if (outputs.size === 0) throw new GraphError('graph has no outputs');
  const live = liveTensors(graph, [...outputs.values()]);
  const e = new OnnxEmitter();
  const names = new Map<number, string>();
  const inputs: onnxProto.onnx.IValueInfoProto[] = [];
  const valueInfo = (name: string, t: { shape: Shape; dtype: DType }) => ({
    name,
    type: { tensorType: { elemType: ONNX_DTYPE[t.dtype], shape: { dim: t.shape.map((d) => ({ dimValue: d })) } } },
  });

  for (const [name, t] of graph.inputs) {
    if (!live.has(t.id)) continue;
    names.set(t.id, name);
    inputs.push(valueInfo(name, t));
  }
  for (const [name, p] of graph.params) {
    if (!live.has(p.tensor.id)) continue;
    names.set(p.tensor.id, name);
    const value = opts.paramValues?.get(name);
    if (value) e.initializers.push(tensorProto(name, p.shape, p.tensor.dtype, value));
    else inputs.push(valueInfo(name, p.tensor));
  }
  const nameOf = (t: Tensor): string => {
    let n = names.get(t.id);
    if (n) return n;
    if (t.source.kind !== 'const') throw new GraphError(`tensor ${t} has no producer`);
    n = constName(e, t.source.value);
    names.set(t.id, n);
    return n;
  };
  const implicit = implicitExpands(graph, live, outputs);
  for (const node of graph.nodes) {
    if (!live.has(node.output.id)) continue;
    if (implicit.has(node.output.id)) {
      names.set(node.output.id, nameOf(node.inputs[0]));
      continue;
    }
    const ins = node.inputs.map(nameOf);
    const out = `v${node.output.id}`;
    names.set(node.output.id, out);
    const rule = TABLE[node.op] as (typeof TABLE)[typeof node.op] & { onnx: (...a: unknown[]) => void };
    rule.onnx(e, ins, out, node.attrs, node.inputs, node.output);
  }
  const outInfos: onnxProto.onnx.IValueInfoProto[] = [];
  for (const [name, t] of outputs) {
    // ONNX graph outputs need their own names; an Identity also lets one tensor serve two outputs.
    e.node('Identity', [nameOf(t)], [name]);
    outInfos.push(valueInfo(name, t));
  }
  const domains = new Set(e.nodes.map((n) => n.domain).filter((d) => d));
  return onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'unmask',
    opsetImport: [{ domain: '', version: OPSET }, ...[...domains].map((domain) => ({ domain, version: 1 }))],
    graph: { name: 'unmask', node: e.nodes, initializer: e.initializers, input: inputs, output: outInfos },
  });
}

const BROADCASTING = new Set<OpName>(['add', 'sub', 'mul', 'div', 'pow', 'max', 'min', 'equal', 'less', 'greater', 'where']);

/**
 * Expands (autodiff's reduction gradients, mostly) that only feed broadcasting elementwise ops whose
 * result keeps its shape when they read the unexpanded tensor: those ops broadcast it themselves,
 * so the full-size copy is never written.
 */
function implicitExpands(graph: Graph, live: Set<number>, outputs: Map<string, Tensor>): Set<number> {
  const consumers = new Map<number, Node[]>();
  for (const n of graph.nodes) {
    if (!live.has(n.output.id)) continue;
    for (const t of n.inputs) {
      const list = consumers.get(t.id);
      if (list) list.push(n);
      else consumers.set(t.id, [n]);
    }
  }
  const outs = new Set([...outputs.values()].map((t) => t.id));
  const implicit = new Set<number>();
  for (const n of graph.nodes) {
    const id = n.output.id;
    if (n.op !== 'expand' || !live.has(id) || outs.has(id)) continue;
    const small = n.inputs[0];
    const ok = (consumers.get(id) ?? []).every((c) => {
      if (!BROADCASTING.has(c.op)) return false;
      const shapes = c.inputs.map((t) => (t.id === id ? small.shape : t.shape));
      const shape = shapes.reduce<number[] | null>((acc, s) => acc && broadcastShapes(acc, s), []);
      return shape !== null && fmtShape(shape) === fmtShape(c.output.shape);
    });
    if (ok) implicit.add(id);
  }
  return implicit;
}

function constName(e: OnnxEmitter, v: NDArray): string {
  return e.constOf(v.shape, v.dtype, v.data);
}

export function serializeModel(model: onnxProto.onnx.ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** Ids of tensors that some output depends on. */
export function liveTensors(graph: Graph, outputs: Tensor[]): Set<number> {
  const live = new Set<number>(outputs.map((t) => t.id));
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i];
    if (!live.has(n.output.id)) continue;
    for (const t of n.inputs) live.add(t.id);
  }
  return live;
}
