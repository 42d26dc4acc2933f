// Fitting the generator's log σ head, as the reference does before it reports bits per dimension
// (experiments/calc_approximate_ELBO.py): the VQGAN frozen, the head alone trained by Adam (lr 1e-4,
// gradient norm clipped at 0.1) on −log p(x | z) = Σ −log N(x; decoded image, σ²) over the image, in
// bits per dimension. The frozen part runs as one inference session (image → decoder features and
// decoded image); the head's small training graph takes those as inputs, so no gradient ever flows
// through the decoder.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type ImageSet, fillBatch } from '../data/image-set.ts';
import * as F from '../engine/api.ts';
import { loadCheckpoint, samplingWeights, saveCheckpoint } from '../engine/checkpoint.ts';
import { Graph, type Tensor } from '../engine/graph.ts';
import { adamInit, adamUpdate, clipGradNorm } from '../engine/optim.ts';
import { ParamStore } from '../engine/params.ts';
import { Rng } from '../engine/rng.ts';
import { decodeSafetensors, encodeSafetensors, paramsFromTensors, paramsToTensors } from '../engine/safetensors.ts';
import { Program } from '../engine/session.ts';
import { TrainStep } from '../engine/trainstep.ts';
import { UnmaskError } from '../errors.ts';
import { resolveModel } from '../inference/model-dir.ts';
import { ModelError, PRIOR_KIND, TOKENIZER_FILE, checkKind } from '../inference/model-format.ts';
import { type VqganConfig, parseVqganConfig } from '../models/vqgan-config.ts';
import { codebook, decoderOutputs, embedCodes, encoder, gaussianNll, logSigmaHead, nearestCode } from '../models/vqgan.ts';
import { Scope } from '../nn/scope.ts';
import { vqganConfigOf } from './train-vqgan.ts';

export const LOG_SIGMA_DEFAULTS = { lr: 1e-4, clip: 0.1, batch: 4 };

export interface LogSigmaFitOptions {
  train: ImageSet;
  val: ImageSet;
  steps: number;
  batch?: number;
  lr?: number;
  seed: number;
  /** Validation images for the before/after figure. */
  valImages: number;
  onStep?: (info: { step: number; steps: number; bitsPerDim: number }) => void;
}

export interface LogSigmaFit {
  /** The tokenizer's parameters with the fitted head (a new store; the input is not changed). */
  params: ParamStore;
  /** Validation −log p(x | z) in bits per dimension before and after fitting. */
  before: number;
  after: number;
}

/** The frozen part: images → decoder features, decoded images (codes through the quantizer). */
export function frozenGraph(c: VqganConfig, batch: number): Graph {
  const g = new Graph();
  const s = new Scope(g);
  const x = g.input('x', [batch, c.channels, c.imageSize, c.imageSize]);
  const z = encoder(s.sub('encoder'), x, c);
  const [, d, h, w] = z.shape;
  const codes = F.reshape(nearestCode(F.reshape(F.transpose(z, [0, 2, 3, 1]), [-1, d]), codebook(s.sub('quantize'), c)), [batch, h, w]);
  const { mean, features } = decoderOutputs(s.sub('generator'), embedCodes(s.sub('quantize'), codes, c), c);
  g.output('features', features);
  g.output('mean', mean);
  return g;
}

/** The head alone: −log p(x | z) of each image in bits per dimension, and its batch mean, the loss. */
export function headGraph(c: VqganConfig, batch: number): { graph: Graph; loss: Tensor; perImage: Tensor } {
  const g = new Graph();
  const ch = c.nf * c.chMult[0];
  const features = g.input('features', [batch, ch, c.imageSize, c.imageSize]);
  const x = g.input('x', [batch, c.channels, c.imageSize, c.imageSize]);
  const mean = g.input('mean', [batch, c.channels, c.imageSize, c.imageSize]);
  const logSigma = logSigmaHead(new Scope(g).sub('generator'), features, c);
  const dims = c.channels * c.imageSize * c.imageSize;
  const perImage = F.div(F.reduceSum(gaussianNll(x, mean, logSigma), [1, 2, 3]), Math.LN2 * dims); // [B]
  return { graph: g, loss: F.reduceMean(perImage), perImage };
}

/** The head's parameters: the tokenizer's own if it has them, else PyTorch's default initialisation. */
function headParams(params: ParamStore, graph: Graph, rng: Rng): ParamStore {
  const fresh = ParamStore.init(graph, rng);
  const head = new ParamStore();
  for (const name of fresh.names()) {
    const from = params.has(name) ? params.get(name) : fresh.get(name);
    head.set(name, from.shape, from.data.slice());
  }
  return head;
}

/** Fits the log σ head of a tokenizer (`config`, `params`) on `train`; reports validation bits per dimension. */
export async function fitLogSigma(config: VqganConfig, params: ParamStore, o: LogSigmaFitOptions): Promise<LogSigmaFit> {
  if (o.train.size !== config.imageSize || o.train.channels !== config.channels) {
    throw new UnmaskError(`the data is ${o.train.size}×${o.train.size} with ${o.train.channels} channel(s) but the tokenizer takes ${config.imageSize}×${config.imageSize} with ${config.channels}`, 'use the data the tokenizer was trained on');
  }
  const batch = o.batch ?? LOG_SIGMA_DEFAULTS.batch;
  const rng = new Rng(o.seed);
  const per = config.channels * config.imageSize * config.imageSize;
  const frozen = await Program.compile(frozenGraph(config, batch), { bake: params });
  const { graph, loss, perImage } = headGraph(config, batch);
  const head = headParams(params, graph, rng);
  const step = await TrainStep.compile(graph, loss, { params: head.names(), extra: { perImage } });
  const opt = adamInit(head, head.names());
  const x = new Float32Array(batch * per);

  /** Runs a batch of images through the frozen part, then the head. */
  const run = async (set: ImageSet, indices: number[]) => {
    x.fill(0);
    fillBatch(set, indices, x);
    const f = await frozen.run({ x });
    return step.run({ x, features: f.features, mean: f.mean }, head);
  };
  const validate = async () => {
    const count = Math.min(o.valImages, o.val.count);
    if (count < 1) throw new UnmaskError('no validation images for the log σ fit', 'use data with a validation split (a folder of at least 10 images)');
    let total = 0;
    for (let i = 0; i < count; i += batch) {
      // A short last batch repeats its first image; only the real ones count.
      const real = Math.min(batch, count - i);
      const r = await run(o.val, Array.from({ length: batch }, (_, b) => i + (b < real ? b : 0)));
      const each = r.outputs.perImage.data as Float32Array;
      for (let b = 0; b < real; b++) total += each[b];
    }
    return total / count;
  };
  try {
    const before = await validate();
    for (let s = 1; s <= o.steps; s++) {
      const r = await run(o.train, Array.from({ length: batch }, () => rng.int(o.train.count)));
      clipGradNorm(r.grads, LOG_SIGMA_DEFAULTS.clip);
      adamUpdate(head, r.grads, opt, { lr: o.lr ?? LOG_SIGMA_DEFAULTS.lr });
      o.onStep?.({ step: s, steps: o.steps, bitsPerDim: r.loss });
    }
    const after = await validate();
    const out = params.clone();
    for (const name of head.names()) out.set(name, head.get(name).shape, head.get(name).data);
    return { params: out, before, after };
  } finally {
    await Promise.all([frozen.release(), step.release()]);
  }
}

export interface LogSigmaModelResult extends LogSigmaFit {
  out: string;
}

/**
 * Fits the head of the model `nameOrDir` (a complete model, or a tokenizer alone) and writes the
 * model, now with the fitted head (float32) and a note on its card, to the new directory `out`.
 */
export async function fitLogSigmaInModel(nameOrDir: string, out: string, o: LogSigmaFitOptions & { dataName: string }): Promise<LogSigmaModelResult> {
  const dir = resolveModel(nameOrDir);
  if (existsSync(out) && (!statSync(out).isDirectory() || readdirSync(out).length > 0)) {
    throw new UnmaskError(`${out} already exists`, 'choose a new --out directory (the fitted model is written as a new one)');
  }
  const ck = loadCheckpoint(dir);
  const kind = (ck.config as { kind?: string }).kind;
  const complete = kind === PRIOR_KIND;
  const config = complete ? parseVqganConfig(checkKind(ck.config, PRIOR_KIND, dir).tokenizer) : vqganConfigOf(ck.config, dir);
  const tokenizerBytes = ck.files?.[TOKENIZER_FILE];
  if (complete && !tokenizerBytes) throw new ModelError(`${dir} has no ${TOKENIZER_FILE}`, 'the model directory is incomplete; copy it again');
  const params = complete ? paramsFromTensors(decodeSafetensors(tokenizerBytes as Uint8Array, join(dir, TOKENIZER_FILE)).tensors) : samplingWeights(ck);
  const fit = await fitLogSigma(config, params, o);
  const card = ck.files?.['model-card.md'];
  const note = `\n## Likelihood head\n\nThe generator's log σ head was fitted by \`unmask train logsigma\` as the reference fits it (decoder frozen; Adam, lr ${o.lr ?? LOG_SIGMA_DEFAULTS.lr}, gradient norm clipped at ${LOG_SIGMA_DEFAULTS.clip}): ${o.steps} steps of ${o.batch ?? LOG_SIGMA_DEFAULTS.batch} images from ${o.dataName}, seed ${o.seed}. Validation −log p(x | z): ${fit.before.toFixed(4)} → ${fit.after.toFixed(4)} bits per dimension (${Math.min(o.valImages, o.val.count)} images).\n`;
  const files: Record<string, Uint8Array | string> = { 'model-card.md': `${card ? new TextDecoder().decode(card as Uint8Array) : ''}${note}` };
  if (complete) {
    files[TOKENIZER_FILE] = encodeSafetensors(paramsToTensors(fit.params));
    saveCheckpoint(out, { config: ck.config, params: samplingWeights(ck), state: { step: ck.state.step }, files });
  } else {
    saveCheckpoint(out, { config: ck.config, params: fit.params, state: { step: ck.state.step }, files });
  }
  return { ...fit, out };
}
