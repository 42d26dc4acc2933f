// Parameter naming: a Scope prefixes names the way PyTorch state-dict keys nest ("encoder.blocks.3.conv1.weight").
// It also says whether the graph is for inference only, and at which precision: then layers may use
// fused kernels that have no gradient rule (attention) and int8 linear layers.
import type { Graph, InitSpec, Shape, Tensor } from '../engine/graph.ts';
import { type Precision, int8Param } from '../engine/quantize.ts';

export class Scope {
  constructor(
    readonly graph: Graph,
    readonly prefix = '',
    /** null: a graph that may be differentiated (primitives only); else an inference graph at this precision. */
    readonly inference: Precision | null = null,
  ) {}

  sub(name: string | number): Scope {
    return new Scope(this.graph, this.name(name), this.inference);
  }

  param(name: string, shape: Shape, init: InitSpec, trainable = true): Tensor {
    return this.graph.param(this.name(name), shape, init, trainable);
  }

  /** An int8 weight [rows, cols] and its per-row scales (engine/quantize.ts fills both from the float weight). */
  int8Param(name: string, rows: number, cols: number): { weight: Tensor; scale: Tensor } {
    return int8Param(this.graph, this.name(name), rows, cols);
  }

  private name(name: string | number): string {
    return this.prefix ? `${this.prefix}.${name}` : `${name}`;
  }
}
