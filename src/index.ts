// The library API in Node (the package's main entry): everything in common.ts, plus reading models,
// images and data from disk and training. Importing it chooses onnxruntime-node as the runtime
// (setRuntime picks another).
import { nodeRuntime } from './engine/runtime-node.ts';
import { setRuntime } from './engine/runtime.ts';

setRuntime(nodeRuntime);

export * from './common.ts';
export { nodeRuntime };
export { loadModel, readModelDir, resolveModel, listModels, loadTokenizer, DEFAULT_MODEL } from './inference/model-dir.ts';
export { readImage, writeImage, encodePng } from './data/png.ts';
export { importReference, REFERENCE_PRESETS } from './interop/import.ts';
export type { ImportOptions, ImportResult } from './interop/import.ts';
export { exportReference } from './interop/export.ts';
export { readTorchStateDict } from './interop/torch-file.ts';
export { AutoregressiveTrainer } from './training/train-autoregressive.ts';
export { runVqganTraining, RunError } from './training/run-vqgan.ts';
export { runPriorTraining } from './training/run-prior.ts';
