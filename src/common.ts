// The part of the library API that is the same in Node and in browsers: build a model from its files,
// run any task with per-step progress, sample, and build, differentiate and run graphs. index.ts (Node)
// and browser.ts add what only their platform has and choose the ONNX Runtime build.
export { UnmaskError } from './errors.ts';
export { UnmaskModel, PriorDenoiser } from './inference/model.ts';
export { ModelError } from './inference/model-format.ts';
export type { ModelFiles } from './inference/model-format.ts';
export { fetchModel } from './inference/model-fetch.ts';
export { generate, complete, inpaint, stitch, extend, decodeGrid, decodePartial, tokenMaskFromPixelMask, boxMask, TaskError } from './inference/tasks.ts';
export type { TaskOptions, TaskResult, KeepRegion, Box, ExtendOptions } from './inference/tasks.ts';
export { Tokenizer, psnr } from './inference/tokenizer.ts';
export { likelihood, bitsPerDim } from './inference/likelihood.ts';
export type { Likelihood } from './inference/likelihood.ts';
export { sampleTokens, SampleError } from './diffusion/sample.ts';
export type { Condition, Denoiser, SampleOptions } from './diffusion/sample.ts';
export { SAMPLERS, randomSampler, confidenceSampler, haltonSampler, haltonOrder, withRemasking } from './diffusion/samplers.ts';
export type { Sampler, SamplerName } from './diffusion/samplers.ts';
export { WindowDenoiser } from './diffusion/windows.ts';
export { sampleAutoregressive, AutoregressiveSampler, validationNll } from './inference/autoregressive.ts';
export type { AutoregressiveSampleOptions } from './inference/autoregressive.ts';
export { imageAt, imageGrid, rgba, upscale } from './data/images.ts';
export type { Images, GridOptions } from './data/images.ts';
export { Graph, Tensor, GraphError } from './engine/graph.ts';
export * as F from './engine/api.ts';
export { grad } from './engine/autodiff.ts';
export { Program } from './engine/session.ts';
export { TrainStep } from './engine/trainstep.ts';
export { ParamStore } from './engine/params.ts';
export { Rng } from './engine/rng.ts';
export { setRuntime, withSessionDefaults } from './engine/runtime.ts';
export type { Runtime, HostTensor } from './engine/runtime.ts';
