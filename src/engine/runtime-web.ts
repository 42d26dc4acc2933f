// onnxruntime-web behind the Runtime interface: the browser app's runtime (wasm, or WebGPU where the
// browser has it), and in Node a check that every graph unmask emits also loads in the web build.
import * as ort from 'onnxruntime-web';
import type { DType } from './graph.ts';
import type { HostTensor, Runtime, RuntimeSession, SessionOptions } from './runtime.ts';

class WebSession implements RuntimeSession {
  constructor(private session: ort.InferenceSession) {}

  get inputNames() {
    return this.session.inputNames;
  }

  get outputNames() {
    return this.session.outputNames;
  }

  async run(feeds: Record<string, HostTensor>, outputs?: readonly string[]): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = new ort.Tensor(v.dtype, v.data as never, v.shape as number[]);
    const res = outputs ? await this.session.run(ortFeeds, outputs as string[]) : await this.session.run(ortFeeds);
    const out: Record<string, HostTensor> = {};
    for (const [k, v] of Object.entries(res)) out[k] = { dtype: v.type as DType, shape: [...v.dims], data: v.data as HostTensor['data'] };
    return out;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** A runtime on onnxruntime-web; `providers` in order of preference, e.g. ['webgpu', 'wasm']. */
export function webRuntime(providers: string[] = ['wasm']): Runtime {
  return {
    name: `onnxruntime-web (${providers.join(', ')})`,
    async createSession(model: Uint8Array, opts: SessionOptions = {}) {
      if (opts.threads) ort.env.wasm.numThreads = opts.threads;
      const session = await ort.InferenceSession.create(model, { executionProviders: providers, graphOptimizationLevel: 'all' });
      return new WebSession(session);
    },
  };
}
