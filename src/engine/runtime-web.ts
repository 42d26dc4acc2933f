// onnxruntime-web behind the Runtime interface: the library's runtime in browsers (wasm, or WebGPU where
// the browser has it), and in Node a check that every graph unmask emits also loads in the web build.
import * as ort from 'onnxruntime-web';
import type { Runtime } from './runtime.ts';
import { webRuntimeOn } from './runtime-web-core.ts';

/** A runtime on onnxruntime-web; `providers` in order of preference, e.g. ['webgpu', 'wasm']. */
export function webRuntime(providers: string[] = ['wasm']): Runtime {
  return webRuntimeOn(ort, { providers });
}
