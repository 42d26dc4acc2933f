// Training the feature network on a labelled data set: cross-entropy on the labels, Adam with a cosine
// decay to zero, seeded batches; then validation accuracy and a checkpoint (`unmask train features`).
import type { ImageSet } from '../data/image-set.ts';
import { fillBatch } from '../data/image-set.ts';
import * as F from '../engine/api.ts';
import { findCheckpoint } from '../engine/checkpoint.ts';
import { UnmaskError } from '../errors.ts';
import { Graph } from '../engine/graph.ts';
import { adamInit, adamUpdate } from '../engine/optim.ts';
import { ParamStore } from '../engine/params.ts';
import { Rng } from '../engine/rng.ts';
import { TrainStep } from '../engine/trainstep.ts';
import { crossEntropy } from '../nn/losses.ts';
import { Scope } from '../nn/scope.ts';
import { EvalError } from './features.ts';
import { FeatureNet, type FeatureNetConfig, type FeatureNetInfo, featureNet, saveFeatureNet } from './feature-net.ts';

/** Steps of `unmask train features` by default: about 3 minutes on the shared 2-core machine; 89.2% validation accuracy on Fashion-MNIST. */
export const FEATURE_STEPS = 1500;

export interface FeatureTrainOptions {
  config: FeatureNetConfig;
  train: ImageSet;
  val: ImageSet;
  steps: number;
  seed: number;
  /** Validation images for the accuracy (a prefix of `val`). Default 2000. */
  valImages?: number;
  /** Set (e.g. on SIGINT) to stop after the current step; the net is still validated and returned. */
  stop?: { requested: boolean };
  onStep?: (info: { step: number; steps: number; loss: number; lr: number; imagesPerSecond: number }) => void;
}

export interface TrainedFeatures {
  net: FeatureNet;
  info: FeatureNetInfo;
}

function requireLabels(set: ImageSet): (i: number) => number {
  if (!set.label) throw new EvalError(`${set.name} has no class labels`, 'the feature net trains on labels; use fashion or emoji, or pass an ONNX feature network');
  return set.label;
}

/** Labels of a batch, checked against the number of classes. */
function batchLabels(set: ImageSet, indices: ArrayLike<number>, classes: number): BigInt64Array {
  const label = requireLabels(set);
  return BigInt64Array.from(Array.from(indices, (i) => {
    const y = label.call(set, i);
    if (!Number.isInteger(y) || y < 0 || y >= classes) throw new EvalError(`${set.name}: image ${i} has label ${y}, outside 0..${classes - 1}`, 'set classes in the config');
    return BigInt(y);
  }));
}

export function checkSetShape(set: ImageSet, channels: number, size: number, what: string): void {
  if (set.channels !== channels || set.size !== size) {
    throw new EvalError(`${set.name} has ${set.size}×${set.size} images with ${set.channels} channel(s) but ${what} takes ${size}×${size} with ${channels}`, 'use data of that size, or train a feature net for it');
  }
}

export async function trainFeatureNet(o: FeatureTrainOptions): Promise<TrainedFeatures> {
  const c = o.config;
  for (const set of [o.train, o.val]) {
    requireLabels(set);
    checkSetShape(set, c.channels, c.imageSize, 'the feature net');
  }
  if (o.train.count < c.batch) throw new EvalError(`${o.train.name} has ${o.train.count} images, fewer than one batch of ${c.batch}`, 'pass a smaller --batch');
  const start = performance.now();
  const g = new Graph();
  const x = g.input('images', [c.batch, c.channels, c.imageSize, c.imageSize]);
  const y = g.input('labels', [c.batch], 'int64');
  const step = await TrainStep.compile(g, F.reduceMean(crossEntropy(featureNet(new Scope(g), x, c).logits, y)));
  const rng = new Rng(o.seed);
  const params = ParamStore.init(g, rng);
  const adam = adamInit(params, step.trained);
  const per = c.channels * c.imageSize * c.imageSize;
  const xb = new Float32Array(c.batch * per);
  let order = rng.permutation(o.train.count);
  let at = 0;
  let done = 0;
  try {
    while (done < o.steps && !o.stop?.requested) {
      const t0 = performance.now();
      if (at + c.batch > order.length) [order, at] = [rng.permutation(o.train.count), 0];
      const idx = order.subarray(at, at + c.batch);
      at += c.batch;
      fillBatch(o.train, idx, xb);
      const r = await step.run({ images: xb, labels: batchLabels(o.train, idx, c.classes) }, params);
      if (!Number.isFinite(r.loss)) throw new UnmaskError(`training the feature net diverged at step ${done + 1}: loss ${r.loss}; nothing was saved`, 'train again with a smaller --batch or another --seed');
      const lr = (c.lr * (1 + Math.cos((Math.PI * done) / o.steps))) / 2;
      adamUpdate(params, r.grads, adam, { lr });
      done++;
      o.onStep?.({ step: done, steps: o.steps, loss: r.loss, lr, imagesPerSecond: c.batch / ((performance.now() - t0) / 1000) });
    }
  } finally {
    await step.release();
  }
  const net = new FeatureNet(c, params, 'unmask feature net');
  const valImages = Math.min(o.valImages ?? 2000, o.val.count);
  const valAccuracy = await accuracy(net, o.val, valImages);
  return { net, info: { valAccuracy, valImages, step: done, seconds: (performance.now() - start) / 1000 } };
}

/** Fraction of the first `count` images of `set` the net classifies correctly. */
export async function accuracy(net: FeatureNet, set: ImageSet, count: number): Promise<number> {
  const c = net.config;
  const per = c.channels * c.imageSize * c.imageSize;
  const images = new Float32Array(count * per);
  fillBatch(set, Array.from({ length: count }, (_, i) => i), images);
  const { classes } = await net.run(images, count);
  const labels = batchLabels(set, Array.from({ length: count }, (_, i) => i), c.classes);
  let correct = 0;
  for (let i = 0; i < count; i++) if (BigInt(classes[i]) === labels[i]) correct++;
  return correct / count;
}

export interface FeatureRunOptions extends FeatureTrainOptions {
  out: string;
  /** The command line and data credit, for the model card. */
  command: string;
  dataCredit: string;
}

/** Trains a feature net and saves it to `out` (a new directory). */
export async function runFeatureTraining(o: FeatureRunOptions): Promise<TrainedFeatures> {
  if (findCheckpoint(o.out)) throw new EvalError(`${o.out} already holds a checkpoint`, 'choose another --out');
  const trained = await trainFeatureNet(o);
  await saveFeatureNet(o.out, trained.net, trained.info, featureCard(o, trained.info));
  return trained;
}

function featureCard(o: FeatureRunOptions, info: FeatureNetInfo): string {
  const c = o.config;
  return `# Feature network

The feature space for unmask's FID and precision/recall/density/coverage on this data: a convnet
trained on the data set's labels; its features are the ${c.dim} ReLU units of the layer before the
classifier.

- Data: ${o.train.name} (${o.train.count} training images, ${c.classes} classes). ${o.dataCredit}
- Architecture: conv 3×3 ${c.channels}→${c.width}, then three stride-2 convs to ${2 * c.width}, ${4 * c.width}, ${4 * c.width} channels (ReLU), flatten → linear + ReLU → ${c.dim}-d features → linear → ${c.classes} logits.
- Training: ${info.step} steps of batch ${c.batch}, Adam lr ${c.lr} with cosine decay, seed ${o.seed}; ${info.seconds.toFixed(0)} s on this machine.
- Validation accuracy: ${(100 * info.valAccuracy).toFixed(2)}% on the first ${info.valImages} images of ${o.val.name}.
- Command: \`${o.command}\`
- Files: params.safetensors (weights), features.onnx (images [64, ${c.channels}, ${c.imageSize}, ${c.imageSize}] in [0, 1] → features [64, ${c.dim}] and classes; usable as \`--features\`).
`;
}
