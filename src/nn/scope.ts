// Parameter naming: a Scope prefixes names the way PyTorch state-dict keys nest ("encoder.blocks.3.conv1.weight").
import type { Graph, InitSpec, Shape, Tensor } from '../engine/graph.ts';

export class Scope {
  constructor(
    readonly graph: Graph,
    readonly prefix = '',
  ) {}

  sub(name: string | number): Scope {
    return new Scope(this.graph, this.prefix ? `${this.prefix}.${name}` : `${name}`);
  }

  param(name: string, shape: Shape, init: InitSpec, trainable = true): Tensor {
    return this.graph.param(this.prefix ? `${this.prefix}.${name}` : name, shape, init, trainable);
  }
}
