// VQGAN training graphs: the autoencoder (generator) objective with the adaptive GAN weight, and the
// discriminator's hinge loss. Losses are separate from the model functions (docs/method.md §1).
import * as F from '../engine/api.ts';
import { grad } from '../engine/autodiff.ts';
import { Graph, type Tensor } from '../engine/graph.ts';
import { Scope } from '../nn/scope.ts';
import { declareDiffAugmentInputs, diffAugment, parseDiffAugment } from './diffaugment.ts';
import { perceptualDistance, perceptualNet } from './perceptual.ts';
import { discriminator, encoder, generator, lastLayerName, quantize } from './vqgan.ts';
import type { VqganConfig } from './vqgan-config.ts';

export interface AeGraph {
  graph: Graph;
  loss: Tensor;
  /** Statistics and tensors returned with every step. */
  extra: Record<string, Tensor>;
  /** Names of the parameters the autoencoder step trains (encoder, quantizer, generator). */
  trained: string[];
}

const l1 = (a: Tensor, b: Tensor) => F.reduceMean(F.abs(F.sub(a, b)));

/** Discriminator-feature matching: L1 between D's activations on x and x̂, a perceptual term needing no pretrained weights. */
function discFeatureLoss(s: Scope, x: Tensor, xhat: Tensor, c: VqganConfig): Tensor {
  const real = discriminator(s, x, c, true).features;
  const fake = discriminator(s, xhat, c, true).features;
  return real.map((f, i) => l1(F.stopGradient(f), fake[i])).reduce((a, b) => F.add(a, b));
}

/** DiffAugment of the images D sees, with random parameters fed as inputs `diffAugment.{real,fake}.*`. */
function augmented(g: Graph, images: Tensor, which: 'real' | 'fake', c: VqganConfig): Tensor {
  const augments = parseDiffAugment(c.diffAugment);
  if (!augments.length) return images;
  return diffAugment(images, augments, declareDiffAugmentInputs(g, `diffAugment.${which}`, augments, images.shape[0], c.imageSize));
}

/**
 * loss = L1(x, x̂) + w_p·perceptual + λ·(−mean D(x̂)) + codebook loss, where
 * λ = clamp(‖∇_last L_rec‖ / (‖∇_last L_gan‖ + 1e-4), 0, disc_weight_max) when `adversarial`
 * (D sees DiffAugment(x̂) when diffAugment is set).
 */
export function buildAeGraph(c: VqganConfig, batch: number, adversarial: boolean): AeGraph {
  const graph = new Graph();
  const s = new Scope(graph);
  const x = graph.input('x', [batch, c.channels, c.imageSize, c.imageSize]);
  const z = encoder(s.sub('encoder'), x, c); // [B, D, h, w]
  const q = quantize(s.sub('quantize'), z, c);
  const xhat = generator(s.sub('generator'), q.zq, c); // [B, C, H, W]
  const rec = l1(x, xhat);
  let nll = rec;
  const extra: Record<string, Tensor> = { rec, codebook: q.loss, indices: q.indices, xhat: F.stopGradient(xhat) };
  if (c.perceptual !== 'none') {
    const p = c.perceptual === 'disc-features' ? discFeatureLoss(s.sub('disc'), x, xhat, c) : perceptualDistance(perceptualNet(c.perceptual), x, xhat);
    extra.perceptual = p;
    nll = F.add(nll, F.mul(p, c.perceptualWeight));
  }
  const trained = [...graph.params.values()].filter((p) => p.trainable && !p.name.startsWith('disc.')).map((p) => p.name);
  let loss = F.add(nll, q.loss);
  if (adversarial) {
    const gLoss = F.neg(F.reduceMean(discriminator(s.sub('disc'), augmented(graph, xhat, 'fake', c), c, true).logits));
    const last = graph.params.get(lastLayerName(c))!.tensor;
    const [gRec] = grad(nll, [last]);
    const [gGan] = grad(gLoss, [last]);
    const norm = (t: Tensor) => F.sqrt(F.reduceSum(F.square(t)));
    const ratio = F.div(norm(gRec), F.add(norm(gGan), 1e-4));
    const lambda = F.stopGradient(F.minimum(F.maximum(ratio, 0), c.discWeightMax));
    loss = F.add(loss, F.mul(lambda, gLoss));
    extra.gan = gLoss;
    extra.discWeight = lambda;
  }
  const zFlat = F.reshape(F.transpose(F.stopGradient(z), [0, 2, 3, 1]), [-1, c.embDim]);
  extra.z = zFlat;
  return { graph, loss, extra, trained };
}

export interface DiscGraph {
  graph: Graph;
  loss: Tensor;
  extra: Record<string, Tensor>;
  trained: string[];
  /** BatchNorm layers whose running statistics the host updates: output names of batch mean/var per call. */
  bnUpdates: { name: string; mean: string; variance: string }[];
}

/**
 * Hinge loss 0.5·(mean relu(1 − D(x)) + mean relu(1 + D(x̂))), with x̂ fed from the autoencoder step
 * (each augmented independently when diffAugment is set).
 */
export function buildDiscGraph(c: VqganConfig, batch: number): DiscGraph {
  const graph = new Graph();
  const s = new Scope(graph).sub('disc');
  const shape = [batch, c.channels, c.imageSize, c.imageSize];
  const x = graph.input('x', shape);
  const xhat = graph.input('xhat', shape);
  const real = discriminator(s, augmented(graph, x, 'real', c), c, true);
  const fake = discriminator(s, augmented(graph, xhat, 'fake', c), c, true);
  const lossReal = F.reduceMean(F.relu(F.sub(1, real.logits)));
  const lossFake = F.reduceMean(F.relu(F.add(fake.logits, 1)));
  const loss = F.mul(F.add(lossReal, lossFake), 0.5);
  const extra: Record<string, Tensor> = {
    logitsReal: F.reduceMean(real.logits),
    logitsFake: F.reduceMean(fake.logits),
  };
  const bnUpdates: DiscGraph['bnUpdates'] = [];
  [real, fake].forEach((out, call) => {
    for (const st of out.bnStats) {
      const m = `bn${call}:${st.name}:mean`;
      const v = `bn${call}:${st.name}:var`;
      extra[m] = st.mean;
      extra[v] = st.variance;
      bnUpdates.push({ name: st.name, mean: m, variance: v });
    }
  });
  const trained = [...graph.params.values()].filter((p) => p.trainable).map((p) => p.name);
  return { graph, loss, extra, trained, bnUpdates };
}
