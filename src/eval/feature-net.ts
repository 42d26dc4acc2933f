// The feature network every metric is measured with when no other is given: a small convnet trained by
// unmask on the data set's own labels (Fashion-MNIST's 10 classes, the emoji's 10 categories). As
// Inception's pool3 is for FID, the features are the layer before the classifier: here a ReLU fully
// connected layer on the last convolution (D = `dim` values per image), as in the LeNet-style
// classifiers used for FID on MNIST-like data. (A global-average-pooled head trained several times
// slower at this size.)
import { existsSync } from 'node:fs';
import { readJsonFile } from '../engine/fs-errors.ts';
import { join } from 'node:path';
import { z } from 'zod';
import * as F from '../engine/api.ts';
import { findCheckpoint, loadParams, saveCheckpoint } from '../engine/checkpoint.ts';
import { Graph, type Tensor } from '../engine/graph.ts';
import type { ParamStore } from '../engine/params.ts';
import { Program } from '../engine/session.ts';
import { FEATURES_KIND, checkKind } from '../inference/model-format.ts';
import { conv2d, linear } from '../nn/layers.ts';
import { Scope } from '../nn/scope.ts';
import { EvalError, type FeatureExtractor, type Features } from './features.ts';

/** The exported inference graph in a feature-net checkpoint ([CHUNK, C, S, S] → [CHUNK, dim]). */
export const FEATURES_ONNX = 'features.onnx';
/** Images per session run when extracting (the last run is padded). */
export const FEATURE_CHUNK = 64;

export const FeatureNetConfigSchema = z
  .object({
    channels: z.number().int().min(1).max(4),
    /** Square images of this side, a multiple of 8 (three stride-2 convolutions). */
    imageSize: z.number().int().min(8).multipleOf(8),
    classes: z.number().int().min(2).default(10),
    /** Channels of the first convolution; they double at each of the next two. */
    width: z.number().int().min(1).default(32),
    /** Feature dimension: width of the penultimate (fully connected) layer. */
    dim: z.number().int().min(1).default(128),
    lr: z.number().positive().default(2e-3),
    batch: z.number().int().min(1).default(64),
  })
  .strict();

export type FeatureNetConfig = z.output<typeof FeatureNetConfigSchema>;

export function parseFeatureNetConfig(raw: unknown): FeatureNetConfig {
  const r = FeatureNetConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new EvalError(`invalid feature-net config: ${issue.path.join('.') || '(root)'}: ${issue.message}`, 'fix that setting');
  }
  return r.data;
}

/** Images [B, C, S, S] → features [B, dim] and class logits [B, classes]. */
export function featureNet(s: Scope, x: Tensor, c: FeatureNetConfig): { features: Tensor; logits: Tensor } {
  const w = c.width;
  let h = F.relu(conv2d(s.sub('conv1'), x, c.channels, w, 3, { padding: 1 })); // [B, w, S, S]
  h = F.relu(conv2d(s.sub('conv2'), h, w, 2 * w, 3, { stride: 2, padding: 1 })); // [B, 2w, S/2, S/2]
  h = F.relu(conv2d(s.sub('conv3'), h, 2 * w, 4 * w, 3, { stride: 2, padding: 1 })); // [B, 4w, S/4, S/4]
  h = F.relu(conv2d(s.sub('conv4'), h, 4 * w, 4 * w, 3, { stride: 2, padding: 1 })); // [B, 4w, S/8, S/8]
  const flat = 4 * w * (c.imageSize / 8) ** 2;
  const features = F.relu(linear(s.sub('fc1'), F.reshape(h, [x.shape[0], flat]), flat, c.dim)); // [B, dim]
  return { features, logits: linear(s.sub('fc2'), features, c.dim, c.classes) }; // [B, classes]
}

/** The inference graph: features and predicted classes for a chunk of images. */
export function featureNetGraph(c: FeatureNetConfig, batch: number): Graph {
  const g = new Graph();
  const x = g.input('images', [batch, c.channels, c.imageSize, c.imageSize]);
  const { features, logits } = featureNet(new Scope(g), x, c);
  g.output('features', features);
  g.output('classes', F.argMax(logits, 1));
  return g;
}

/** A trained feature net as a FeatureExtractor (weights baked into one session). */
export class FeatureNet implements FeatureExtractor {
  private program: Program | null = null;

  constructor(
    readonly config: FeatureNetConfig,
    readonly params: ParamStore,
    readonly name: string,
  ) {}

  get dim(): number {
    return this.config.dim;
  }

  async session(): Promise<Program> {
    this.program ??= await Program.compile(featureNetGraph(this.config, FEATURE_CHUNK), { bake: this.params });
    return this.program;
  }

  /** Features and predicted classes of `n` images [n, C, S, S]. */
  async run(images: Float32Array, n: number): Promise<{ features: Features; classes: Int32Array }> {
    const c = this.config;
    const per = c.channels * c.imageSize * c.imageSize;
    if (images.length !== n * per) throw new EvalError(`the feature net takes ${c.channels}×${c.imageSize}×${c.imageSize} images; got ${images.length} values for ${n} image(s)`, `pass ${n} image(s) of ${c.channels}×${c.imageSize}×${c.imageSize} values`);
    const p = await this.session();
    const features = new Float32Array(n * c.dim);
    const classes = new Int32Array(n);
    const x = new Float32Array(FEATURE_CHUNK * per);
    for (let i = 0; i < n; i += FEATURE_CHUNK) {
      const m = Math.min(FEATURE_CHUNK, n - i);
      x.fill(0).set(images.subarray(i * per, (i + m) * per));
      const r = await p.run({ images: x });
      features.set((r.features.data as Float32Array).subarray(0, m * c.dim), i * c.dim);
      (r.classes.data as BigInt64Array).subarray(0, m).forEach((v, j) => (classes[i + j] = Number(v)));
    }
    return { features: { n, d: c.dim, data: features }, classes };
  }

  async features(images: Float32Array, n: number): Promise<Features> {
    return (await this.run(images, n)).features;
  }

  async release(): Promise<void> {
    await this.program?.release();
    this.program = null;
  }
}

export interface FeatureNetInfo {
  /** Accuracy on the validation images it was checked on. */
  valAccuracy: number;
  valImages: number;
  step: number;
  seconds: number;
}

/** Saves a feature-net checkpoint: config, weights, the exported ONNX graph and a model card. */
export async function saveFeatureNet(dir: string, net: FeatureNet, info: FeatureNetInfo, card: string): Promise<void> {
  const onnx = (await net.session()).model;
  saveCheckpoint(dir, {
    config: { kind: FEATURES_KIND, ...net.config },
    params: net.params,
    state: { step: info.step, extra: info },
    files: { 'model-card.md': card, [FEATURES_ONNX]: onnx },
  });
}

/** Loads a feature net saved by saveFeatureNet (`unmask train features`). */
export function loadFeatureNet(dir: string): { net: FeatureNet; info: FeatureNetInfo } {
  const at = findCheckpoint(dir);
  if (!at) throw new EvalError(`${dir} is not a feature network (no state.json)`, `pass a run of 'unmask train features' or an .onnx file`);
  const damaged = `retrain it with 'unmask train features'`;
  const config = checkKind(readJsonFile(join(at, 'config.json'), 'a config file', damaged), FEATURES_KIND, dir);
  const state = readJsonFile(join(at, 'state.json'), 'a state file', damaged) as { extra: FeatureNetInfo };
  const paramsFile = join(at, 'params.safetensors');
  if (!existsSync(paramsFile)) throw new EvalError(`${dir} has no params.safetensors`, `retrain it with 'unmask train features'`);
  return { net: new FeatureNet(parseFeatureNetConfig(config), loadParams(paramsFile), `unmask feature net ${dir}`), info: state.extra };
}
