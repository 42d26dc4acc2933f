// The one interface between unmask and an ONNX Runtime build. Only runtime-node.ts and the web app's
// runtime import onnxruntime packages; everything else speaks HostTensor.
import type { DType, Shape } from './graph.ts';

export type HostData = Float32Array | Float64Array | BigInt64Array | Uint8Array;

export interface HostTensor {
  dtype: DType;
  shape: Shape;
  data: HostData;
}

export interface SessionOptions {
  /** Intra-op threads; defaults to the number of cores. */
  threads?: number;
  /**
   * Whether idle intra-op threads spin waiting for the next op (ORT's default, true) rather than sleep.
   * Spinning wins only on an otherwise idle machine; beside other busy processes a spinning thread
   * takes the core the op it waits for needs.
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

export function setRuntime(rt: Runtime): void {
  current = rt;
}

/** The runtime in use; in Node it defaults to onnxruntime-node. */
export async function getRuntime(): Promise<Runtime> {
  if (!current) {
    const { nodeRuntime } = await import('./runtime-node.ts');
    current = nodeRuntime;
  }
  return current;
}
