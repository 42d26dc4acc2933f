// Every test file runs on onnxruntime-node, chosen here as the package's Node entry and the CLI choose it.
import { nodeRuntime } from '../src/engine/runtime-node.ts';
import { setRuntime } from '../src/engine/runtime.ts';

setRuntime(nodeRuntime);
