// Named float32 parameters: initialisation from a graph's declarations, lookup, copying.
import { type Graph, GraphError, type InitSpec, type Shape, fmtShape, sizeOf } from './graph.ts';
import type { Rng } from './rng.ts';

export interface Param {
  shape: Shape;
  data: Float32Array;
}

export class ParamStore {
  readonly map = new Map<string, Param>();

  /** Fresh values for every parameter the graph declares, drawn in declaration order. */
  static init(graph: Graph, rng: Rng): ParamStore {
    const store = new ParamStore();
    for (const p of graph.params.values()) store.set(p.name, p.shape, initValues(p.init, sizeOf(p.shape), rng));
    return store;
  }

  get(name: string): Param {
    const p = this.map.get(name);
    if (!p) throw new GraphError(`no parameter '${name}'`);
    return p;
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  set(name: string, shape: Shape, data: Float32Array): void {
    if (data.length !== sizeOf(shape)) throw new GraphError(`parameter '${name}': ${data.length} values for shape ${fmtShape(shape)}`);
    this.map.set(name, { shape: [...shape], data });
  }

  names(): string[] {
    return [...this.map.keys()];
  }

  clone(): ParamStore {
    const c = new ParamStore();
    for (const [k, v] of this.map) c.set(k, v.shape, v.data.slice());
    return c;
  }

  count(): number {
    let n = 0;
    for (const v of this.map.values()) n += v.data.length;
    return n;
  }

  /** Checks that every parameter the graph declares is here with the right shape. */
  assertCovers(graph: Graph): void {
    for (const p of graph.params.values()) {
      const have = this.map.get(p.name);
      if (!have) throw new GraphError(`missing parameter '${p.name}' ${fmtShape(p.shape)}`);
      if (fmtShape(have.shape) !== fmtShape(p.shape)) {
        throw new GraphError(`parameter '${p.name}' has shape ${fmtShape(have.shape)}, the model needs ${fmtShape(p.shape)}`);
      }
    }
  }
}

export function initValues(init: InitSpec, n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  switch (init.kind) {
    case 'zeros':
      break;
    case 'ones':
      a.fill(1);
      break;
    case 'uniform':
      for (let i = 0; i < n; i++) a[i] = rng.uniform(init.low, init.high);
      break;
    case 'normal':
      for (let i = 0; i < n; i++) a[i] = rng.normal() * init.std;
      break;
  }
  return a;
}

/** PyTorch's default for Linear and Conv weights and biases: U(±1/√fan_in). */
export function fanInUniform(fanIn: number): InitSpec {
  const b = 1 / Math.sqrt(fanIn);
  return { kind: 'uniform', low: -b, high: b };
}
