// onnxruntime-node behind the Runtime interface.
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import type { DType } from './graph.ts';
import type { HostTensor, Runtime, RuntimeSession, SessionOptions } from './runtime.ts';

const ORT_TYPE: Record<DType, 'float32' | 'float64' | 'int64' | 'bool' | 'int8'> = {
  float32: 'float32',
  int8: 'int8',
  float64: 'float64',
  int64: 'int64',
  bool: 'bool',
};

export function toOrt(t: HostTensor): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[t.dtype], t.data as never, t.shape as number[]);
}

export function fromOrt(t: ort.Tensor): HostTensor {
  return { dtype: t.type as DType, shape: [...t.dims], data: t.data as HostTensor['data'] };
}

class NodeSession implements RuntimeSession {
  constructor(private session: ort.InferenceSession) {}

  get inputNames() {
    return this.session.inputNames;
  }

  get outputNames() {
    return this.session.outputNames;
  }

  async run(feeds: Record<string, HostTensor>, outputs?: readonly string[]): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
    const res = outputs ? await this.session.run(ortFeeds, outputs as string[]) : await this.session.run(ortFeeds);
    const out: Record<string, HostTensor> = {};
    for (const [k, v] of Object.entries(res)) out[k] = fromOrt(v);
    return out;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

export const nodeRuntime: Runtime = {
  name: 'onnxruntime-node',
  async createSession(model: Uint8Array, opts: SessionOptions = {}) {
    const session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: opts.threads ?? availableParallelism(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      ...(opts.spin === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
    });
    return new NodeSession(session);
  },
};
