// Messages between the page (main.ts, through engine.ts) and the model worker (worker.ts), and the
// server's manifest (GET /api/models).
import type { ImagePreparation } from '../../data/image-set.ts';
import type { Images } from '../../data/images.ts';
import type { SamplingDefaults } from '../../models/prior-config.ts';
import type { Precision } from '../../engine/quantize.ts';

/** A file the server sends: its URL (naming its version, so a cached copy is never stale) and size. */
export interface FileRef {
  url: string;
  bytes: number;
}

/** One onnxruntime-web build: its script and its wasm. */
export interface OrtBuild {
  module: FileRef;
  binary: FileRef;
}

/** onnxruntime-web's wasm-only build and its WebGPU + wasm build. */
export interface RuntimeManifest {
  version: string;
  wasm: OrtBuild;
  webgpu: OrtBuild;
}

/** One model of GET /api/models: its files, or why they can't be sent. */
export interface ModelEntry {
  name: string;
  summary: string;
  /** Total bytes of config, weights and tokenizer. */
  bytes?: number;
  files?: { config: FileRef; weights: FileRef; tokenizer: FileRef; card: FileRef | null };
  problem?: string;
}

export interface Manifest {
  models: ModelEntry[];
  runtime: RuntimeManifest;
  /** Whether POST /api/save writes results into the server's --out folder. */
  save: boolean;
}

export type Backend = 'auto' | 'wasm' | 'webgpu';

/** What the app needs to know about a loaded model, and what it runs on. */
export interface ModelInfo {
  name: string;
  channels: number;
  imageSize: number;
  /** How the model's training images were fitted to imageSize (uploads are prepared the same way). */
  input: ImagePreparation;
  /** Token grid side. */
  latent: number;
  pixelsPerToken: number;
  /** The autoregressive baseline: it only generates, in one step per token. */
  causal: boolean;
  /** Class names of a class-conditional model; empty when unconditional. */
  classes: readonly string[];
  /** The sampler names the library offers (keys of SAMPLERS). */
  samplers: readonly string[];
  /** The sampling the model recommends (from its evaluation): the controls start there. */
  sampling: SamplingDefaults | null;
  /** The execution providers the sessions use, first choice first: ['webgpu', 'wasm'] or ['wasm']. */
  providers: string[];
  /** The WebGPU adapter, when WebGPU runs. */
  adapter: string | null;
  /** Wasm threads onnxruntime-web runs with. */
  threads: number;
  /** Why there is only one thread, when that is not the machine's choice. */
  threadsNote: string | null;
  /** Why 'auto' runs on wasm although the browser offered a WebGPU adapter. */
  fallback: string | null;
  /** Bytes fetched over the network and read from the browser's cache for this load. */
  fetchedBytes: number;
  cachedBytes: number;
  /** Why files were not kept in the browser's cache, if they were not. */
  cacheNote: string | null;
  /** Seconds from the request to ready. */
  seconds: number;
}

export type Keep = 'top' | 'bottom' | 'left' | 'right';

export type Task =
  | { kind: 'generate' }
  | { kind: 'inpaint'; image: Images; mask: Float32Array }
  | { kind: 'complete'; image: Images; keep: Keep }
  | { kind: 'stitch'; left: Images; right: Images; seam: number }
  | { kind: 'extend'; width: number; height: number; image?: Images };

/** How often the worker decodes the grid part-way for the page to show. */
export type PreviewMode = 'budget' | 'every' | 'off';

export interface SampleSettings {
  n: number;
  steps: number;
  temperature: number;
  sampler: string;
  seed: number;
  /** The class of every result (class-conditional models), and the classifier-free guidance weight. */
  label?: string;
  guidance?: number;
  preview: PreviewMode;
  /** The prior's linear layers: int8 is faster on wasm (WebGPU runs float32). */
  precision: Precision;
}

export type Request =
  | { type: 'load'; id: number; model: ModelEntry; runtime: RuntimeManifest; backend: Backend }
  | { type: 'warm'; id: number; n: number; precision: Precision }
  | { type: 'run'; id: number; task: Task; settings: SampleSettings }
  | { type: 'cancel'; id: number };

/** Where a run's time went, in milliseconds. */
export interface RunTimes {
  /** Sampling steps (the prior), previews excluded. */
  sampling: number;
  /** Part-way decodes for the page, and how many. */
  previews: number;
  previewCount: number;
  /** The final decode. */
  decode: number;
}

export type Reply =
  | { type: 'progress'; id: number; what: string; loaded: number; total: number; cached: number }
  | { type: 'loaded'; id: number; info: ModelInfo }
  /** `images` only on steps the preview cadence decodes. */
  | { type: 'step'; id: number; step: number; steps: number; elapsed: number; images?: Images }
  | { type: 'done'; id: number; images: Images; seconds: number; times: RunTimes }
  | { type: 'cancelled'; id: number }
  | { type: 'error'; id: number; message: string };
