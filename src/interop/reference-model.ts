// The reference implementation's state dicts ↔ unmask's models. unmask's parameter names already are
// the reference's (models/vqgan.ts, models/transformer.ts), so this is a prefix, a config inferred
// from tensor shapes, and a check that the two agree key by key:
//   VQGAN file:  ae.{encoder,quantize,generator}.… (generator.logsigma.* when it has the likelihood
//                head), disc.main.… (PatchGAN), perceptual.… (LPIPS);
//   prior file:  _denoise_fn.… (the transformer; start_tok is used only by the causal variant) and the
//                buffers Lt_history, Lt_count, loss_history of its time sampler.
// Every ResBlock there has a conv_out, used only where its channel count changes.
import { Graph } from '../engine/graph.ts';
import { ParamStore } from '../engine/params.ts';
import { Rng } from '../engine/rng.ts';
import { UnmaskError } from '../errors.ts';
import { Scope } from '../nn/scope.ts';
import { type PriorConfig, parsePriorConfig, transformerConfig } from '../models/prior-config.ts';
import { transformer } from '../models/transformer.ts';
import { VQGAN_256, type VqganConfig, parseVqganConfig } from '../models/vqgan-config.ts';
import { LOG_SIGMA_PARAM, codebook, encoder, generator, logSigmaHead, probabilisticGenerator } from '../models/vqgan.ts';
import type { TorchTensor, TorchTensorOut } from './torch-file.ts';

/** A problem with a state dict's contents; the caller prefixes the file it came from. */
export class ReferenceModelError extends UnmaskError {
  override name = 'ReferenceModelError';

  constructor(problem: string, fix = "pass the checkpoint as the reference implementation saved it", options?: { cause?: unknown }) {
    super(problem, fix, options);
  }
}

/** A problem with an import or export. */
export class InteropError extends UnmaskError {
  override name = 'InteropError';
}

export const VQGAN_PREFIX = 'ae.';
export const PRIOR_PREFIX = '_denoise_fn.';
/** The prior file's buffers (importance-sampling statistics and a loss history per time step). */
const PRIOR_BUFFERS = ['Lt_history', 'Lt_count', 'loss_history'];

export interface Mapped<C> {
  config: C;
  params: ParamStore;
  /** Keys of the file that unmask does not use, in file order. */
  unused: string[];
  /** The storage types of the tensors used. */
  dtypes: string[];
}

/** What a caller knows that a state dict does not say. */
export interface VqganHints {
  /** Image side in pixels; without it, `latent` (the prior's grid side) fixes it. */
  imageSize?: number;
  latent?: number;
  /** Training settings to record with the model (the architecture comes from the tensors). */
  training?: Partial<VqganConfig>;
}

export interface PriorHints {
  heads: number;
  training?: Partial<PriorConfig>;
}

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** Parameter names and shapes of unmask's tokenizer (encoder, codebook, generator [+ log σ head]). */
export function tokenizerShapes(c: VqganConfig, logSigma: boolean): Map<string, number[]> {
  const g = new Graph();
  const s = new Scope(g);
  const z = encoder(s.sub('encoder'), g.input('x', [1, c.channels, c.imageSize, c.imageSize]), c);
  codebook(s.sub('quantize'), c);
  if (logSigma) probabilisticGenerator(s.sub('generator'), z, c);
  else generator(s.sub('generator'), z, c);
  return new Map([...g.params.values()].map((p) => [p.name, [...p.shape]]));
}

/** Parameter names and shapes of unmask's prior transformer. */
export function priorShapes(c: PriorConfig): Map<string, number[]> {
  const g = new Graph();
  transformer(new Scope(g), g.input('tokens', [1, c.latent * c.latent], 'int64'), transformerConfig(c));
  return new Map([...g.params.values()].map((p) => [p.name, [...p.shape]]));
}

/**
 * A state dict saved from a model wrapped for data-parallel training (DistributedDataParallel,
 * DataParallel) has every key under 'module.'; the weights are the same.
 */
function unwrapped(sd: Map<string, TorchTensor>): Map<string, TorchTensor> {
  const all = [...sd.keys()];
  return all.length && all.every((k) => k.startsWith('module.')) ? under(sd, 'module.') : sd;
}

/** Keys under `prefix`, with the prefix removed. */
function under(sd: Map<string, TorchTensor>, prefix: string): Map<string, TorchTensor> {
  return new Map([...sd].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
}

/** The number of blocks `<list>.<i>.…`, which must be numbered 0, 1, 2, … without gaps. */
function blockCount(t: Map<string, TorchTensor>, list: string, shown: string): number {
  const prefix = `${list}.`;
  const seen = new Set([...t.keys()].filter((k) => k.startsWith(prefix)).map((k) => Number(k.slice(prefix.length).split('.')[0])));
  const sorted = [...seen].sort((a, b) => a - b);
  if (sorted.some((v, i) => v !== i)) throw new ReferenceModelError(`numbers its ${shown} ${sorted.join(', ')}, with gaps`, `the file is damaged or not the reference's`);
  return sorted.length;
}

function shapeOf(t: Map<string, TorchTensor>, key: string, rank: number, what: string): number[] {
  const v = t.get(key);
  if (!v) throw new ReferenceModelError(`has no ${what}`, `this is not the reference's state dict, or it is damaged`);
  if (v.shape.length !== rank) throw new ReferenceModelError(`${what} has shape ${fmt(v.shape)}, not rank ${rank}`);
  return v.shape;
}

/**
 * The VQGAN architecture from the shapes of `ae.*` tensors (keys without the prefix). The encoder's
 * block list, as the reference builds it after Taming Transformers: conv; per level `resBlocks` ×
 * (ResBlock [+ AttnBlock]) and a Downsample after all but the last; ResBlock, AttnBlock, ResBlock,
 * GroupNorm, conv.
 */
function inferVqgan(ae: Map<string, TorchTensor>, disc: Map<string, TorchTensor>, hints: VqganHints): VqganConfig {
  const [nf, channels] = shapeOf(ae, 'encoder.blocks.0.weight', 4, 'encoder.blocks.0.weight (the first conv)');
  const [codebookSize, embDim] = shapeOf(ae, 'quantize.embedding.weight', 2, 'quantize.embedding.weight (the codebook)');
  const indices = Array.from({ length: blockCount(ae, 'encoder.blocks', 'ae.encoder.blocks') }, (_, i) => i);
  if (indices.length < 7) throw new ReferenceModelError(`has ${indices.length} encoder blocks, too few for the reference VQGAN`);
  const kind = (i: number) =>
    ae.has(`encoder.blocks.${i}.norm1.weight`) ? 'res'
    : ae.has(`encoder.blocks.${i}.q.weight`) ? 'attn'
    : ae.has(`encoder.blocks.${i}.conv.weight`) ? 'down'
    : 'other';
  // Levels: the blocks between the first conv and the bottom (Res, Attn, Res, GroupNorm, conv), split at Downsamples.
  const body = indices.slice(1, -5).map((i) => ({ i, kind: kind(i) }));
  const levels: { i: number; kind: string }[][] = [[]];
  for (const b of body) {
    if (b.kind === 'down') levels.push([]);
    else levels[levels.length - 1].push(b);
  }
  const resCount = (l: { kind: string }[]) => l.filter((b) => b.kind === 'res').length;
  const chMult = levels.map((l) => {
    const first = l.find((b) => b.kind === 'res');
    if (!first) throw new ReferenceModelError(`encoder level ${levels.indexOf(l)} has no ResBlock`, `not the reference VQGAN's block list`);
    return shapeOf(ae, `encoder.blocks.${first.i}.conv1.weight`, 4, 'a ResBlock conv1')[0] / nf;
  });
  const imageSize = hints.imageSize ?? (hints.latent ? hints.latent * 2 ** (levels.length - 1) : undefined);
  if (!imageSize) throw new ReferenceModelError('does not say its image size', 'give --image-size (or the prior, whose grid fixes it)');
  if (hints.latent && imageSize !== hints.latent * 2 ** (levels.length - 1)) {
    throw new ReferenceModelError(`maps ${imageSize}-px images to ${imageSize / 2 ** (levels.length - 1)}×${imageSize / 2 ** (levels.length - 1)} codes, but the prior's grid is ${hints.latent}×${hints.latent}`, `drop --image-size or fix it to ${hints.latent * 2 ** (levels.length - 1)}`);
  }
  const attnResolutions = levels.flatMap((l, level) => (l.some((b) => b.kind === 'attn') ? [imageSize / 2 ** level] : []));
  const discLayers = [...disc.keys()].filter((k) => /^main\.\d+\.running_mean$/.test(k)).length;
  const arch: Partial<VqganConfig> = { channels, imageSize, nf, chMult, resBlocks: resCount(levels[0]), attnResolutions, codebookSize, embDim };
  if (discLayers) Object.assign(arch, { ndf: shapeOf(disc, 'main.0.weight', 4, 'disc.main.0.weight')[0], discLayers });
  // Without a discriminator in the file, the default depth where the images are large enough for it.
  else arch.discLayers = Math.min(VQGAN_256.discLayers, Math.floor(Math.log2(imageSize / 3)));
  try {
    return parseVqganConfig({ ...hints.training, ...arch });
  } catch (e) {
    throw new ReferenceModelError(`does not describe a VQGAN unmask can run (${e instanceof UnmaskError ? e.problem : (e as Error).message})`, undefined, { cause: e });
  }
}

/**
 * Checks that the tensors under the model's prefix are exactly those unmask declares, shape by shape,
 * apart from `unusedHere` ones; returns the parameters and the keys it leaves unused.
 */
function collect(tensors: Map<string, TorchTensor>, prefix: string, declared: Map<string, number[]>, unusedHere: (key: string) => boolean): { params: ParamStore; unused: string[]; dtypes: string[] } {
  const params = new ParamStore();
  const dtypes = new Set<string>();
  for (const [name, shape] of declared) {
    const t = tensors.get(name);
    if (!t) throw new ReferenceModelError(`is missing ${prefix}${name} ${fmt(shape)}, which the inferred architecture needs`, `the file is incomplete or not the reference's`);
    if (fmt(t.shape) !== fmt(shape)) throw new ReferenceModelError(`has ${prefix}${name} of shape ${fmt(t.shape)} where the inferred architecture needs ${fmt(shape)}`);
    if (t.dtype === 'int64') throw new ReferenceModelError(`has ${prefix}${name} as int64, not floating point`);
    params.set(name, shape, t.data);
    dtypes.add(t.dtype);
  }
  const unused: string[] = [];
  for (const name of tensors.keys()) {
    if (declared.has(name)) continue;
    if (!unusedHere(name)) throw new ReferenceModelError(`has an unexpected key ${prefix}${name}`, `its architecture is not the one inferred from its other tensors`);
    unused.push(prefix + name);
  }
  return { params, unused, dtypes: [...dtypes] };
}

/** A ResBlock's conv_out where its channels do not change: in the reference's files, never used. */
function isIdleConvOut(tensors: Map<string, TorchTensor>, name: string): boolean {
  const m = /^(.*)\.conv_out\.(weight|bias)$/.exec(name);
  const conv1 = m && tensors.get(`${m[1]}.conv1.weight`);
  return !!conv1 && conv1.shape[0] === conv1.shape[1];
}

/** The reference VQGAN checkpoint → unmask tokenizer config and parameters. */
export function vqganFromReference(file: Map<string, TorchTensor>, hints: VqganHints): Mapped<VqganConfig> {
  const sd = unwrapped(file);
  const outside = [...sd.keys()].find((k) => !/^(ae|disc|perceptual)\./.test(k));
  if (outside) throw new ReferenceModelError(`has the key '${outside}'; the reference VQGAN's keys start with ae., disc. or perceptual.`, `pass the VQGAN file as --vqgan and the prior as --prior`);
  const ae = under(sd, VQGAN_PREFIX);
  const config = inferVqgan(ae, under(sd, 'disc.'), hints);
  const declared = tokenizerShapes(config, ae.has(LOG_SIGMA_PARAM));
  const { params, unused, dtypes } = collect(ae, VQGAN_PREFIX, declared, (k) => isIdleConvOut(ae, k));
  const elsewhere = [...sd.keys()].filter((k) => !k.startsWith(VQGAN_PREFIX));
  return { config, params, unused: [...unused, ...elsewhere], dtypes };
}

/** The reference absorbing-diffusion checkpoint → unmask prior config and parameters. */
export function priorFromReference(file: Map<string, TorchTensor>, hints: PriorHints): Mapped<PriorConfig> {
  const sd = unwrapped(file);
  const outside = [...sd.keys()].find((k) => !k.startsWith(PRIOR_PREFIX) && !PRIOR_BUFFERS.includes(k));
  if (outside) throw new ReferenceModelError(`has the key '${outside}'; the reference prior's keys start with ${PRIOR_PREFIX}`, `pass the VQGAN file as --vqgan and the prior as --prior`);
  const net = under(sd, PRIOR_PREFIX);
  const [rows, dim] = shapeOf(net, 'tok_emb.weight', 2, `${PRIOR_PREFIX}tok_emb.weight (the token embedding)`);
  const [codebookSize] = shapeOf(net, 'head.weight', 2, `${PRIOR_PREFIX}head.weight (the output head)`);
  const [, tokens] = shapeOf(net, 'pos_emb', 3, `${PRIOR_PREFIX}pos_emb (the positional embedding)`);
  if (rows !== codebookSize + 1) {
    throw new ReferenceModelError(`has ${rows} token embeddings for ${codebookSize} codes; an absorbing prior has one more (the mask)`, `this looks like the autoregressive baseline, which unmask does not import`);
  }
  const latent = Math.round(Math.sqrt(tokens));
  if (latent * latent !== tokens) throw new ReferenceModelError(`has ${tokens} positions, not a square grid of tokens`);
  const layers = blockCount(net, 'blocks', `${PRIOR_PREFIX}blocks`);
  let config: PriorConfig;
  try {
    config = parsePriorConfig({ ...hints.training, codebookSize, latent, dim, layers, heads: hints.heads });
  } catch (e) {
    throw new ReferenceModelError(`does not describe a prior unmask can run (${e instanceof UnmaskError ? e.problem : (e as Error).message})`, undefined, { cause: e });
  }
  const { params, unused, dtypes } = collect(net, PRIOR_PREFIX, priorShapes(config), (k) => k === 'start_tok');
  return { config, params, unused: [...unused, ...[...sd.keys()].filter((k) => PRIOR_BUFFERS.includes(k))], dtypes };
}

const zeros = (shape: number[]) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });

/**
 * unmask tokenizer parameters → the reference VQGAN's keys, so its `load_state_dict` finds every `ae.*`
 * tensor: the idle conv_out of same-width ResBlocks are written as zeros (never used there either), and
 * a generator without a log σ head gets one as PyTorch initialises it (seeded, so the same model always
 * gives the same file), for the reference's ELBO script to fit. Discriminator weights go along when the
 * parameters hold them.
 */
export function vqganToReference(c: VqganConfig, params: ParamStore): Map<string, TorchTensorOut> {
  const out = new Map<string, TorchTensorOut>();
  const head = params.has(LOG_SIGMA_PARAM) ? params : initialLogSigmaHead(c);
  for (const [name, shape] of tokenizerShapes(c, true)) {
    out.set(VQGAN_PREFIX + name, { shape, data: (params.has(name) ? params : head).get(name).data });
    const block = /^(.*)\.conv2\.bias$/.exec(name)?.[1];
    const conv1 = block && params.get(`${block}.conv1.weight`).shape;
    if (conv1 && conv1[0] === conv1[1] && !params.has(`${block}.conv_out.weight`)) {
      out.set(`${VQGAN_PREFIX}${block}.conv_out.weight`, zeros([conv1[0], conv1[1], 1, 1]));
      out.set(`${VQGAN_PREFIX}${block}.conv_out.bias`, zeros([conv1[0]]));
    }
  }
  for (const name of params.names().filter((n) => n.startsWith('disc.'))) {
    const p = params.get(name);
    out.set(name, { shape: [...p.shape], data: p.data });
    if (name.endsWith('.running_var')) out.set(name.replace(/running_var$/, 'num_batches_tracked'), { shape: [], data: new BigInt64Array(1) });
  }
  return out;
}

/** The log σ head with PyTorch's default initialisation, U(±1/√fan_in), from a fixed seed. */
function initialLogSigmaHead(c: VqganConfig): ParamStore {
  const g = new Graph();
  logSigmaHead(new Scope(g).sub('generator'), g.input('features', [1, c.nf * c.chMult[0], 1, 1]), c);
  return ParamStore.init(g, new Rng(0));
}

/** unmask prior parameters → the reference AbsorbingDiffusion's keys, its buffers zeroed. */
export function priorToReference(c: PriorConfig, params: ParamStore): Map<string, TorchTensorOut> {
  const out = new Map<string, TorchTensorOut>();
  for (const b of PRIOR_BUFFERS) out.set(b, zeros([c.latent * c.latent + 1]));
  for (const name of priorShapes(c).keys()) {
    const p = params.get(name);
    out.set(PRIOR_PREFIX + name, { shape: [...p.shape], data: p.data });
    if (name === 'pos_emb') out.set(`${PRIOR_PREFIX}start_tok`, zeros([1, 1, c.dim]));
  }
  return out;
}

/** The reference's hyperparameters (its hparams names) for the exported files. */
export function referenceHparams(vq: VqganConfig, prior: PriorConfig | null): Record<string, unknown> {
  const latent = vq.imageSize / 2 ** (vq.chMult.length - 1);
  const h: Record<string, unknown> = {
    n_channels: vq.channels,
    img_size: vq.imageSize,
    nf: vq.nf,
    ch_mult: vq.chMult,
    res_blocks: vq.resBlocks,
    attn_resolutions: vq.attnResolutions,
    codebook_size: vq.codebookSize,
    emb_dim: vq.embDim,
    latent_shape: [1, latent, latent],
    quantizer: 'nearest',
    beta: vq.beta,
    ndf: vq.ndf,
    disc_layers: vq.discLayers,
    disc_start_step: vq.discStartStep,
    disc_weight_max: vq.discWeightMax,
  };
  if (prior) {
    Object.assign(h, {
      sampler: 'absorbing',
      bert_n_emb: prior.dim,
      bert_n_layers: prior.layers,
      bert_n_head: prior.heads,
      block_size: prior.latent * prior.latent,
      total_steps: prior.latent * prior.latent,
      loss_type: prior.loss,
      mask_schedule: prior.maskSchedule,
      lr: prior.lr,
      warmup_iters: prior.warmup,
      batch_size: prior.batch,
    });
  }
  return h;
}
