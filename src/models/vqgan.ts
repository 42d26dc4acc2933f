// The VQGAN tokenizer of Taming Transformers as the paper uses it (docs/method.md §1): Encoder,
// Quantizer, Generator (decoder) and PatchGAN Discriminator. Block lists follow the reference order,
// so parameter names equal its state-dict keys (encoder.blocks.N…, quantize.embedding.weight, …).
import * as F from '../engine/api.ts';
import type { Tensor } from '../engine/graph.ts';
import { conv2d, swish } from '../nn/layers.ts';
import { batchNorm, groupNorm } from '../nn/norm.ts';
import type { Scope } from '../nn/scope.ts';
import type { VqganConfig } from './vqgan-config.ts';

/** GroupNorm → swish → conv3×3, twice; a 1×1 `conv_out` skip when the channel count changes. */
function resBlock(s: Scope, x: Tensor, inC: number, outC: number): Tensor {
  let h = conv2d(s.sub('conv1'), swish(groupNorm(s.sub('norm1'), x, inC)), inC, outC, 3, { padding: 1 });
  h = conv2d(s.sub('conv2'), swish(groupNorm(s.sub('norm2'), h, outC)), outC, outC, 3, { padding: 1 });
  const skip = inC === outC ? x : conv2d(s.sub('conv_out'), x, inC, outC, 1);
  return F.add(h, skip);
}

/** Single-head self-attention over the h·w positions with 1×1 q, k, v, proj_out; residual. */
function attnBlock(s: Scope, x: Tensor, c: number): Tensor {
  const [b, , h, w] = x.shape;
  const n = groupNorm(s.sub('norm'), x, c);
  const flat = (t: Tensor) => F.reshape(t, [b, c, h * w]);
  const q = F.transpose(flat(conv2d(s.sub('q'), n, c, c, 1)), [0, 2, 1]); // [B, HW, C]
  const k = flat(conv2d(s.sub('k'), n, c, c, 1)); // [B, C, HW]
  const v = flat(conv2d(s.sub('v'), n, c, c, 1)); // [B, C, HW]
  const attn = F.softmax(F.mul(F.matmul(q, k), c ** -0.5), 2); // [B, HW(query), HW(key)]
  const out = F.reshape(F.matmul(v, F.mT(attn)), [b, c, h, w]);
  return F.add(x, conv2d(s.sub('proj_out'), out, c, c, 1));
}

/** Zero-pad right and bottom by one, then conv3×3 stride 2 without padding. */
function downsample(s: Scope, x: Tensor, c: number): Tensor {
  return conv2d(s.sub('conv'), x, c, c, 3, { stride: 2, padding: [0, 0, 1, 1] });
}

function upsample(s: Scope, x: Tensor, c: number): Tensor {
  return conv2d(s.sub('conv'), F.upsampleNearest2x(x), c, c, 3, { padding: 1 });
}

/** Image [B, C, H, W] → latents [B, emb_dim, h, w]. */
export function encoder(s: Scope, x: Tensor, c: VqganConfig): Tensor {
  const blocks = s.sub('blocks');
  let i = 0;
  const next = () => blocks.sub(i++);
  let res = c.imageSize;
  let ch = c.nf;
  let h = conv2d(next(), x, c.channels, c.nf, 3, { padding: 1 });
  c.chMult.forEach((mult, level) => {
    const out = c.nf * mult;
    for (let r = 0; r < c.resBlocks; r++) {
      h = resBlock(next(), h, ch, out);
      ch = out;
      if (c.attnResolutions.includes(res)) h = attnBlock(next(), h, ch);
    }
    if (level !== c.chMult.length - 1) {
      h = downsample(next(), h, ch);
      res /= 2;
    }
  });
  h = resBlock(next(), h, ch, ch);
  h = attnBlock(next(), h, ch);
  h = resBlock(next(), h, ch, ch);
  h = groupNorm(next(), h, ch);
  return conv2d(next(), h, ch, c.embDim, 3, { padding: 1 });
}

/**
 * The decoder up to and including its last GroupNorm: latents [B, emb_dim, h, w] → features
 * [B, nf·chMult[0], H, W], with the scope of the output conv that follows.
 */
function generatorFeatures(s: Scope, z: Tensor, c: VqganConfig): { h: Tensor; ch: number; outConv: Scope } {
  const blocks = s.sub('blocks');
  let i = 0;
  const next = () => blocks.sub(i++);
  let ch = c.nf * c.chMult[c.chMult.length - 1];
  let res = c.imageSize / 2 ** (c.chMult.length - 1);
  let h = conv2d(next(), z, c.embDim, ch, 3, { padding: 1 });
  h = resBlock(next(), h, ch, ch);
  h = attnBlock(next(), h, ch);
  h = resBlock(next(), h, ch, ch);
  for (let level = c.chMult.length - 1; level >= 0; level--) {
    const out = c.nf * c.chMult[level];
    for (let r = 0; r < c.resBlocks; r++) {
      h = resBlock(next(), h, ch, out);
      ch = out;
      if (c.attnResolutions.includes(res)) h = attnBlock(next(), h, ch);
    }
    if (level !== 0) {
      h = upsample(next(), h, ch);
      res *= 2;
    }
  }
  return { h: groupNorm(next(), h, ch), ch, outConv: next() };
}

/** Latents [B, emb_dim, h, w] → image [B, C, H, W] (the reference calls the decoder "generator"). */
export function generator(s: Scope, z: Tensor, c: VqganConfig): Tensor {
  return decoderOutputs(s, z, c).mean;
}

/** The decoded image and the features it is made from (after the last GroupNorm, [B, nf·chMult[0], H, W]). */
export function decoderOutputs(s: Scope, z: Tensor, c: VqganConfig): { mean: Tensor; features: Tensor } {
  const { h, ch, outConv } = generatorFeatures(s, z, c);
  return { mean: conv2d(outConv, h, ch, c.channels, 3, { padding: 1 }), features: h };
}

/**
 * The reference's `logsigma` head on the generator (`s` its scope): conv3×3, ReLU, conv1×1 from the
 * decoder's features to log σ [B, C, H, W], fitted after training with the decoder frozen.
 */
export function logSigmaHead(s: Scope, features: Tensor, c: VqganConfig): Tensor {
  const ch = c.nf * c.chMult[0];
  const head = s.sub('logsigma');
  return conv2d(head.sub(2), F.relu(conv2d(head.sub(0), features, ch, ch, 3, { padding: 1 })), ch, c.channels, 1);
}

/**
 * The decoder as a per-pixel Gaussian p(x | z) = N(mean, σ²): the image is the mean, the log σ head
 * gives σ. This is what turns the prior's ELBO into bits per dimension of the image, as the paper
 * reports likelihoods.
 */
export function probabilisticGenerator(s: Scope, z: Tensor, c: VqganConfig): { mean: Tensor; logSigma: Tensor } {
  const { mean, features } = decoderOutputs(s, z, c);
  return { mean, logSigma: logSigmaHead(s, features, c) };
}

/**
 * −log N(x; mean, σ²) per element, in nats: ½((x − mean)/σ)² + log σ + ½ log 2π. The reference's
 * likelihood (its ELBO script) sums it over an image.
 */
export function gaussianNll(x: Tensor, mean: Tensor, logSigma: Tensor): Tensor {
  const z = F.mul(F.sub(x, mean), F.exp(F.neg(logSigma)));
  return F.add(F.mul(F.square(z), 0.5), F.add(logSigma, 0.5 * Math.log(2 * Math.PI)));
}

/** The parameter that shows a generator has the log σ head. */
export const LOG_SIGMA_PARAM = 'generator.logsigma.0.weight';

/** Name of the generator's last conv weight, whose gradients set the adaptive GAN weight. */
export function lastLayerName(c: VqganConfig): string {
  const levels = c.chMult.length;
  const attnLevels = c.chMult.filter((_, l) => c.attnResolutions.includes(c.imageSize / 2 ** l)).length;
  const count = 1 + 3 + levels * c.resBlocks + attnLevels * c.resBlocks + (levels - 1) + 1;
  return `generator.blocks.${count}.weight`;
}

export interface Quantized {
  /** Straight-through codebook vectors z + sg[z_q − z], [B, emb_dim, h, w]. */
  zq: Tensor;
  /** Code indices [B, h, w] (int64). */
  indices: Tensor;
  /** mean((sg[z_q] − z)²) + β·mean((z_q − sg[z])²). */
  loss: Tensor;
}

export function codebook(s: Scope, c: VqganConfig): Tensor {
  const k = c.codebookSize;
  return s.param('embedding.weight', [k, c.embDim], { kind: 'uniform', low: -1 / k, high: 1 / k });
}

/** Nearest code (L2) per position; returns straight-through vectors, indices and the codebook loss. */
export function quantize(s: Scope, z: Tensor, c: VqganConfig): Quantized {
  const [b, d, h, w] = z.shape;
  const e = codebook(s, c); // [K, D]
  const flat = F.reshape(F.transpose(z, [0, 2, 3, 1]), [b * h * w, d]); // [BHW, D]
  const idx = nearestCode(flat, e); // [BHW]
  const zq = F.transpose(F.reshape(F.gather(e, idx, 0), [b, h, w, d]), [0, 3, 1, 2]); // [B, D, h, w]
  const sz = F.stopGradient(z);
  const loss = F.add(F.reduceMean(F.square(F.sub(F.stopGradient(zq), z))), F.mul(F.reduceMean(F.square(F.sub(zq, sz))), c.beta));
  const st = F.add(z, F.stopGradient(F.sub(zq, z)));
  return { zq: st, indices: F.reshape(idx, [b, h, w]), loss };
}

/** argmin_k ‖z − e_k‖² = argmin_k (‖e_k‖² − 2 z·e_k); z [M, D], e [K, D] → [M] int64. */
export function nearestCode(z: Tensor, e: Tensor): Tensor {
  const se = F.stopGradient(e);
  const dist = F.sub(F.reshape(F.reduceSum(F.square(se), [1]), [1, -1]), F.mul(F.matmul(F.stopGradient(z), F.mT(se)), 2));
  return F.argMin(dist, 1);
}

/** Codes [B, h, w] (int64) → codebook vectors [B, emb_dim, h, w]. */
export function embedCodes(s: Scope, codes: Tensor, c: VqganConfig): Tensor {
  const [b, h, w] = codes.shape;
  return F.transpose(F.reshape(F.gather(codebook(s, c), F.reshape(codes, [b * h * w]), 0), [b, h, w, c.embDim]), [0, 3, 1, 2]);
}

export interface DiscOutput {
  logits: Tensor;
  /** Activations after each LeakyReLU, for feature matching. */
  features: Tensor[];
  /** BatchNorm batch statistics (training mode) by parameter prefix, for the running averages. */
  bnStats: { name: string; mean: Tensor; variance: Tensor }[];
}

/** PatchGAN: conv4×4 s2 → LeakyReLU; (conv4×4 s2, BN, LeakyReLU) × (layers − 1); conv4×4 s1, BN, LeakyReLU; conv4×4 s1 → 1. */
export function discriminator(s: Scope, x: Tensor, c: VqganConfig, training: boolean): DiscOutput {
  const main = s.sub('main');
  const features: Tensor[] = [];
  const bnStats: DiscOutput['bnStats'] = [];
  let i = 0;
  let h = F.leakyRelu(conv2d(main.sub(i), x, c.channels, c.ndf, 4, { stride: 2, padding: 1 }), 0.2);
  features.push(h);
  i += 2;
  let ch = c.ndf;
  for (let n = 1; n <= c.discLayers; n++) {
    const out = c.ndf * Math.min(2 ** n, 8);
    const stride = n < c.discLayers ? 2 : 1;
    h = conv2d(main.sub(i), h, ch, out, 4, { stride, padding: 1, bias: false });
    const bn = batchNorm(main.sub(i + 1), h, out, training);
    if (bn.batchMean && bn.batchVar) bnStats.push({ name: main.sub(i + 1).prefix, mean: bn.batchMean, variance: bn.batchVar });
    h = F.leakyRelu(bn.y, 0.2);
    features.push(h);
    i += 3;
    ch = out;
  }
  const logits = conv2d(main.sub(i), h, ch, 1, 4, { stride: 1, padding: 1 });
  return { logits, features, bnStats };
}
