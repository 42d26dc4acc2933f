// The library API in browsers (the package's `unmask/browser` entry, and what bundlers resolve for
// `unmask` when they build for the browser): everything in common.ts, on onnxruntime-web. It reaches
// no Node built-in, sharp or onnxruntime-node (test/imports.test.ts checks). Importing it chooses
// onnxruntime-web on wasm; setRuntime(webRuntime(['webgpu', 'wasm'])) prefers WebGPU where there is one.
import { setRuntime } from './engine/runtime.ts';
import { webRuntime } from './engine/runtime-web.ts';

setRuntime(webRuntime());

export * from './common.ts';
export { webRuntime };
