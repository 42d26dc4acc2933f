// The one interface between unmask and an ONNX Runtime build. Only runtime-node.ts and runtime-web.ts
// import onnxruntime packages; everything else speaks HostTensor.
import type { DType, Shape } from './graph.ts';
import { UnmaskError } from '../errors.ts';

export type HostData = Float32Array | Float64Array | BigInt64Array | Uint8Array | Int8Array;

export interface HostTensor {
  dtype: DType;
  shape: Shape;
  data: HostData;
}

export interface SessionOptions {
  /** Intra-op threads; defaults to the number of cores. */
  threads?: number;
  /**
   * Whether idle intra-op threads spin waiting for the next op (ORT's own default) rather than sleep;
   * unmask's default is false. Spinning wins only on an otherwise idle machine, and by little: waking
   * a thread costs microseconds per op. Beside other busy processes a spinning thread takes the core
   * the op it waits for needs: on the shared 2-core build machine a 24-layer int8 prior forward took
   * 2.9 s sleeping against 3.8 s spinning, and VQGAN training steps were 35–40% faster.
   */
  spin?: boolean;
}

export interface RuntimeSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, HostTensor>, outputs?: readonly string[]): Promise<Record<string, HostTensor>>;
  release(): Promise<void>;
}

export interface Runtime {
  readonly name: string;
  createSession(model: Uint8Array, opts?: SessionOptions): Promise<RuntimeSession>;
}

let current: Runtime | null = null;

/**
 * Chooses the ONNX Runtime build every session runs on. The entry points choose it (the Node index and
 * the CLI onnxruntime-node, the browser app onnxruntime-web), so the engine itself imports neither.
 */
export function setRuntime(rt: Runtime): void {
  current = rt;
}

/** The runtime chosen by setRuntime. */
export function getRuntime(): Runtime {
  if (!current) throw new UnmaskError("no ONNX Runtime chosen", "import unmask's package entry (it chooses onnxruntime-node), or call setRuntime() first");
  return current;
}

/** `rt` with default session options (such as a thread count) for every session that does not set its own. */
export function withSessionDefaults(rt: Runtime, defaults: SessionOptions): Runtime {
  const set = (opts: SessionOptions) => Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  return { name: rt.name, createSession: (model, opts = {}) => rt.createSession(model, { ...defaults, ...set(opts) }) };
}
