// In the browser build this stands in for src/engine/runtime-node.ts (see ../../build.ts): the app sets
// the onnxruntime-web runtime before any session is made, so this is never used.
import type { Runtime } from '../../../engine/runtime.ts';

export const nodeRuntime: Runtime = {
  name: 'onnxruntime-node (not in browsers)',
  createSession() {
    throw new Error('onnxruntime-node needs Node.js — in the browser, setRuntime(webRuntime()) first');
  },
};
