// One training step as one session run: the forward graph, its loss, and autodiff's gradients for
// every trainable parameter (or a chosen subset), plus any extra statistics the caller wants back.
import { grad } from './autodiff.ts';
import { type Graph, GraphError, type Tensor } from './graph.ts';
import type { ParamStore } from './params.ts';
import type { HostData, HostTensor } from './runtime.ts';
import { Program } from './session.ts';

export interface TrainStepResult {
  loss: number;
  grads: Map<string, Float32Array>;
  outputs: Record<string, HostTensor>;
}

export class TrainStep {
  private constructor(
    readonly program: Program,
    /** Names of the parameters that receive gradients. */
    readonly trained: string[],
    private extras: string[],
  ) {}

  /**
   * Builds the backward pass into `graph` and compiles it. `extra` outputs (statistics, batch-norm
   * moments, images) come back with every run under their names.
   */
  static async compile(graph: Graph, loss: Tensor, opts: { params?: string[]; extra?: Record<string, Tensor> } = {}): Promise<TrainStep> {
    const names = opts.params ?? [...graph.params.values()].filter((p) => p.trainable).map((p) => p.name);
    const tensors = names.map((n) => {
      const p = graph.params.get(n);
      if (!p) throw new GraphError(`TrainStep: the graph has no parameter '${n}'`);
      return p.tensor;
    });
    const grads = grad(loss, tensors);
    const outputs: Record<string, Tensor> = { loss, ...opts.extra };
    names.forEach((n, i) => (outputs[`grad:${n}`] = grads[i]));
    const program = await Program.compile(graph, { outputs });
    return new TrainStep(program, names, Object.keys(opts.extra ?? {}));
  }

  async run(inputs: Record<string, HostData | HostTensor>, params: ParamStore): Promise<TrainStepResult> {
    const out = await this.program.run(inputs, params);
    const grads = new Map<string, Float32Array>();
    for (const n of this.trained) grads.set(n, out[`grad:${n}`].data as Float32Array);
    const outputs: Record<string, HostTensor> = {};
    for (const k of this.extras) outputs[k] = out[k];
    return { loss: Number(out.loss.data[0]), grads, outputs };
  }

  release(): Promise<void> {
    return this.program.release();
  }
}
