// Messages between the page (main.ts) and the model worker (worker.ts), and the server's model list.
import type { SamplerName } from '../../diffusion/samplers.ts';
import type { Images } from '../../data/images.ts';

/** A file the server sends: its URL (naming its version) and size. */
export interface FileRef {
  url: string;
  bytes: number;
}

/** One entry of GET /api/models: a model's files, or why they can't be sent. */
export interface ModelEntry {
  name: string;
  summary: string;
  /** Total bytes of config, weights and tokenizer. */
  bytes?: number;
  files?: { config: FileRef; weights: FileRef; tokenizer: FileRef; card: FileRef | null };
  problem?: string;
}

export interface ModelList {
  models: ModelEntry[];
  /** Whether POST /api/save writes results into the server's --out folder. */
  save: boolean;
}

/** What the app needs to know about a loaded model. */
export interface ModelInfo {
  name: string;
  channels: number;
  imageSize: number;
  /** Token grid side. */
  latent: number;
  pixelsPerToken: number;
  /** The autoregressive baseline: it only generates, in one step per token. */
  causal: boolean;
  /** The ONNX Runtime backend the worker ended up with. */
  backend: string;
}

export type Keep = 'top' | 'bottom' | 'left' | 'right';

export type Task =
  | { kind: 'generate' }
  | { kind: 'inpaint'; image: Images; mask: Float32Array }
  | { kind: 'complete'; image: Images; keep: Keep }
  | { kind: 'stitch'; left: Images; right: Images; seam: number }
  | { kind: 'extend'; width: number; height: number; image?: Images };

export interface SampleSettings {
  n: number;
  steps: number;
  temperature: number;
  sampler: SamplerName;
  seed: number;
}

export type Backend = 'auto' | 'wasm' | 'webgpu';

export type Request =
  | { type: 'load'; id: number; model: ModelEntry; backend: Backend }
  | { type: 'run'; id: number; task: Task; settings: SampleSettings }
  | { type: 'cancel'; id: number };

export type Reply =
  | { type: 'loaded'; id: number; info: ModelInfo }
  | { type: 'step'; id: number; step: number; steps: number; images: Images }
  | { type: 'done'; id: number; images: Images; seconds: number }
  | { type: 'cancelled'; id: number }
  | { type: 'error'; id: number; message: string };
