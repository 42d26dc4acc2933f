// The symbolic graph: tensors with static shapes and dtypes, built by calling op functions.
// Nodes are appended in creation order, which is therefore a topological order.
import type { NDArray } from './ndarray.ts';
import type { OpAttrs, OpName } from './ops/types.ts';

/** int8 holds quantized weights (inference graphs only; see engine/quantize.ts). */
export type DType = 'float32' | 'float64' | 'int64' | 'bool' | 'int8';
export type Shape = readonly number[];

export class GraphError extends Error {
  override name = 'GraphError';
}

export type InitSpec =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'uniform'; low: number; high: number }
  | { kind: 'normal'; std: number };

export interface ParamDecl {
  name: string;
  shape: Shape;
  init: InitSpec;
  /** False for buffers such as BatchNorm running statistics: stored and saved, never optimised. */
  trainable: boolean;
  tensor: Tensor;
}

export type Source =
  | { kind: 'input'; name: string }
  | { kind: 'param'; name: string }
  | { kind: 'const'; value: NDArray }
  | { kind: 'op'; node: Node };

export interface Node {
  op: OpName;
  inputs: Tensor[];
  attrs: OpAttrs[OpName];
  output: Tensor;
}

export class Tensor {
  constructor(
    readonly graph: Graph,
    readonly id: number,
    readonly shape: Shape,
    readonly dtype: DType,
    readonly source: Source,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  toString(): string {
    return `${this.dtype}[${this.shape.join(',')}]`;
  }
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs = new Map<string, Tensor>();
  readonly params = new Map<string, ParamDecl>();
  readonly outputs = new Map<string, Tensor>();
  private nextId = 0;
  private scalarCache = new Map<string, Tensor>();

  private newTensor(shape: Shape, dtype: DType, source: Source): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new GraphError(`invalid shape ${fmtShape(shape)}`);
    }
    return new Tensor(this, this.nextId++, [...shape], dtype, source);
  }

  input(name: string, shape: Shape, dtype: DType = 'float32'): Tensor {
    if (this.inputs.has(name) || this.params.has(name)) throw new GraphError(`duplicate graph input '${name}'`);
    const t = this.newTensor(shape, dtype, { kind: 'input', name });
    this.inputs.set(name, t);
    return t;
  }

  /**
   * Declares a parameter (or buffer), float32 unless it holds quantized weights (int8, never trained);
   * declaring the same name twice returns the first (weight sharing).
   */
  param(name: string, shape: Shape, init: InitSpec, trainable = true, dtype: 'float32' | 'int8' = 'float32'): Tensor {
    const existing = this.params.get(name);
    if (existing) {
      if (fmtShape(existing.shape) !== fmtShape(shape) || existing.tensor.dtype !== dtype) {
        throw new GraphError(`parameter '${name}' redeclared as ${dtype}${fmtShape(shape)}, was ${existing.tensor}`);
      }
      return existing.tensor;
    }
    if (this.inputs.has(name)) throw new GraphError(`parameter '${name}' clashes with an input`);
    if (dtype === 'int8' && trainable) throw new GraphError(`parameter '${name}': int8 parameters hold quantized weights and cannot be trained`);
    const tensor = this.newTensor(shape, dtype, { kind: 'param', name });
    this.params.set(name, { name, shape: [...shape], init, trainable, tensor });
    return tensor;
  }

  constant(value: NDArray): Tensor {
    return this.newTensor(value.shape, value.dtype, { kind: 'const', value });
  }

  /** A rank-0 constant; identical scalars are shared. */
  scalar(v: number, dtype: DType = 'float32'): Tensor {
    const key = `${dtype}:${Object.is(v, -0) ? '-0' : v}`;
    let t = this.scalarCache.get(key);
    if (!t) {
      t = this.constant({ shape: [], dtype, data: Float64Array.of(v) });
      this.scalarCache.set(key, t);
    }
    return t;
  }

  addNode<K extends OpName>(op: K, inputs: Tensor[], attrs: OpAttrs[K], shape: Shape, dtype: DType): Tensor {
    for (const t of inputs) {
      if (t.graph !== this) throw new GraphError(`${op}: input ${t} belongs to another graph`);
    }
    const node: Node = { op, inputs, attrs, output: undefined as unknown as Tensor };
    const output = this.newTensor(shape, dtype, { kind: 'op', node });
    node.output = output;
    this.nodes.push(node);
    return output;
  }

  output(name: string, t: Tensor): Tensor {
    if (t.graph !== this) throw new GraphError(`output '${name}' belongs to another graph`);
    this.outputs.set(name, t);
    return t;
  }
}
