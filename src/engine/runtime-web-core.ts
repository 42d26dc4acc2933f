// The Runtime interface over an onnxruntime-web module the caller passes in. The package has a
// wasm-only build (half the download) and a WebGPU + wasm build; the web app loads the one the browser
// can use, by URL, and hands it here. runtime-web.ts is the same over the package's default import.
import type * as Ort from 'onnxruntime-web';
import type { DType } from './graph.ts';
import type { HostTensor, Runtime, RuntimeSession, SessionOptions } from './runtime.ts';

export type OrtWeb = typeof Ort;

class WebSession implements RuntimeSession {
  constructor(
    private ort: OrtWeb,
    private session: Ort.InferenceSession,
  ) {}

  get inputNames() {
    return this.session.inputNames;
  }

  get outputNames() {
    return this.session.outputNames;
  }

  async run(feeds: Record<string, HostTensor>, outputs?: readonly string[]): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, Ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = new this.ort.Tensor(v.dtype, v.data as never, v.shape as number[]);
    const res = outputs ? await this.session.run(ortFeeds, outputs as string[]) : await this.session.run(ortFeeds);
    const out: Record<string, HostTensor> = {};
    for (const [k, v] of Object.entries(res)) out[k] = { dtype: v.type as DType, shape: [...v.dims], data: v.data as HostTensor['data'] };
    return out;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

export interface WebRuntimeOptions {
  /** Execution providers in order of preference, e.g. ['webgpu', 'wasm']. Default ['wasm']. */
  providers?: string[];
  /**
   * Wasm threads (onnxruntime-web's own default is min(4, ⌈cores / 2⌉), one on a 2-core machine); more
   * than one needs a cross-origin isolated page. Fixed by the first session; later values are ignored.
   */
  threads?: number;
  /** The wasm binary, when the caller fetched it itself (to cache it and count its bytes). */
  wasmBinary?: ArrayBuffer;
}

/** A runtime on the onnxruntime-web module `ort`. */
export function webRuntimeOn(ort: OrtWeb, o: WebRuntimeOptions = {}): Runtime {
  const providers = o.providers ?? ['wasm'];
  return {
    name: `onnxruntime-web (${providers.join(', ')})`,
    async createSession(model: Uint8Array, opts: SessionOptions = {}) {
      const threads = o.threads ?? opts.threads;
      if (threads) ort.env.wasm.numThreads = threads;
      if (o.wasmBinary) ort.env.wasm.wasmBinary = o.wasmBinary;
      // Severity 3 (errors): ORT's warnings (shape ops placed on the CPU beside WebGPU) would reach the console as errors.
      const session = await ort.InferenceSession.create(model, {
        executionProviders: providers,
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
        // Idle threads sleep unless the session asks to spin (SessionOptions.spin), as on onnxruntime-node.
        ...(opts.spin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
      });
      return new WebSession(ort, session);
    },
  };
}
