// The library API in Node: load a model, run any task with per-step progress, train, or build graphs.
// Importing it chooses onnxruntime-node as the runtime (setRuntime picks another).
import { nodeRuntime } from './engine/runtime-node.ts';
import { setRuntime } from './engine/runtime.ts';

setRuntime(nodeRuntime);

export { UnmaskError } from './errors.ts';
export { UnmaskModel, PriorDenoiser } from './inference/model.ts';
export { ModelError } from './inference/model-format.ts';
export type { ModelFiles } from './inference/model-format.ts';
export { loadModel, readModelDir, resolveModel, listModels, loadTokenizer, DEFAULT_MODEL } from './inference/model-dir.ts';
export { generate, complete, inpaint, stitch, extend, decodeGrid, tokenMaskFromPixelMask, boxMask, TaskError } from './inference/tasks.ts';
export type { TaskOptions, TaskResult, KeepRegion, Box, ExtendOptions } from './inference/tasks.ts';
export { Tokenizer, psnr } from './inference/tokenizer.ts';
export { sampleTokens, SampleError } from './diffusion/sample.ts';
export type { Denoiser, SampleOptions } from './diffusion/sample.ts';
export { SAMPLERS, randomSampler, confidenceSampler } from './diffusion/samplers.ts';
export type { Sampler, SamplerName } from './diffusion/samplers.ts';
export { WindowDenoiser } from './diffusion/windows.ts';
export { sampleAutoregressive, AutoregressiveSampler, validationNll } from './inference/autoregressive.ts';
export type { AutoregressiveSampleOptions } from './inference/autoregressive.ts';
export { AutoregressiveTrainer } from './training/train-autoregressive.ts';
export { runVqganTraining, RunError } from './training/run-vqgan.ts';
export { runPriorTraining } from './training/run-prior.ts';
export { readImage, writeImage, encodePng } from './data/png.ts';
export { imageAt, imageGrid, upscale } from './data/images.ts';
export type { Images, GridOptions } from './data/images.ts';
export { Graph, Tensor, GraphError } from './engine/graph.ts';
export * as F from './engine/api.ts';
export { grad } from './engine/autodiff.ts';
export { Program } from './engine/session.ts';
export { TrainStep } from './engine/trainstep.ts';
export { ParamStore } from './engine/params.ts';
export { Rng } from './engine/rng.ts';
export { setRuntime, nodeRuntime };
export type { Runtime, HostTensor } from './engine/runtime.ts';
