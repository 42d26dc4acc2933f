// VQGAN training: autoencoder step (L1 + codebook [+ perceptual] [+ adaptive-weight GAN]), then the
// discriminator's hinge step once it has started (both with optional DiffAugment before D), Adam for
// both, EMA of the autoencoder's weights, dead-code re-initialisation, validation PSNR, atomic
// checkpoints and exact resume.
import { type ImageSet, fillBatch } from '../data/image-set.ts';
import { loadCheckpoint, saveCheckpoint } from '../engine/checkpoint.ts';
import { type AdamState, adamInit, adamUpdate, emaUpdate } from '../engine/optim.ts';
import { ParamStore } from '../engine/params.ts';
import { Rng } from '../engine/rng.ts';
import { TrainStep } from '../engine/trainstep.ts';
import { diffAugmentFeeds, drawDiffAugment, parseDiffAugment } from '../models/diffaugment.ts';
import { buildAeGraph, buildDiscGraph } from '../models/vqgan-loss.ts';
import { type VqganConfig, parseVqganConfig } from '../models/vqgan-config.ts';
import { UnmaskError } from '../errors.ts';
import { VQGAN_KIND, checkKind } from '../inference/model-format.ts';
import { Tokenizer } from '../inference/tokenizer.ts';
import { checkWeights, tokenizerShapes } from '../inference/weights-check.ts';
import { z } from 'zod';
import { type Provenance, provenanceFields } from './provenance.ts';

export interface VqganTrainState {
  step: number;
  params: ParamStore;
  ema: ParamStore;
  optAe: AdamState;
  optDisc: AdamState;
  rng: Rng;
  /** Step at which each code was last chosen (for dead-code re-initialisation). */
  lastUsed: Int32Array;
  /** How many codes have been re-initialised so far. */
  reinitialised: number;
  /** Training wall time so far, across resumes. */
  seconds: number;
  /** Validation results at each checkpoint. */
  history: VqganEval[];
  /** SHA-256 of the ONNX perceptual network the run trains with, so a resume can tell if the file changed. */
  perceptualSha256?: string;
  /** The run's seed and commands, for its model card. */
  provenance: Provenance;
}

export interface VqganEval {
  step: number;
  /** Mean PSNR (dB) of EMA-weight reconstructions of the validation images. */
  psnr: number;
  /** Fraction of the codebook used on the validation images. */
  codesUsed: number;
  perplexity: number;
}

export interface VqganStepInfo {
  step: number;
  rec: number;
  codebook: number;
  perceptual?: number;
  gan?: number;
  discWeight?: number;
  discLoss?: number;
  perplexity: number;
  imagesPerSecond: number;
}

export const BN_MOMENTUM = 0.1;

/** Fresh parameters (all of encoder, quantizer, generator and discriminator) and optimizer state. */
export function initVqganState(c: VqganConfig, seed: number): VqganTrainState {
  const full = buildAeGraph(c, 1, true);
  const rng = new Rng(seed);
  const params = ParamStore.init(full.graph, rng);
  const ema = new ParamStore();
  for (const n of full.trained) ema.set(n, params.get(n).shape, params.get(n).data.slice());
  const discNames = [...full.graph.params.values()].filter((p) => p.trainable && p.name.startsWith('disc.')).map((p) => p.name);
  return {
    step: 0,
    params,
    ema,
    optAe: adamInit(params, full.trained),
    optDisc: adamInit(params, discNames),
    rng,
    lastUsed: new Int32Array(c.codebookSize),
    reinitialised: 0,
    seconds: 0,
    history: [],
    provenance: { seed, commands: [] },
  };
}

/** Saves everything needed to resume exactly (weights, both optimizers, EMA, step, RNG, code usage). */
export function saveVqganCheckpoint(dir: string, c: VqganConfig, s: VqganTrainState, files: Record<string, Uint8Array | string> = {}): void {
  saveCheckpoint(dir, {
    config: { kind: VQGAN_KIND, ...c },
    params: s.params,
    ema: s.ema,
    optimizers: { ae: s.optAe, disc: s.optDisc },
    state: {
      step: s.step,
      rng: s.rng.state(),
      extra: { lastUsed: Array.from(s.lastUsed), reinitialised: s.reinitialised, seconds: s.seconds, history: s.history, perceptualSha256: s.perceptualSha256, ...s.provenance },
    },
    files,
  });
}

/** state.json's extra of a VQGAN run. */
const VqganExtra = (codes: number) =>
  z
    .object({
      lastUsed: z.array(z.number().int()).length(codes).optional(),
      reinitialised: z.number().int().min(0).optional(),
      seconds: z.number().min(0).optional(),
      history: z.array(z.object({ step: z.number().int().min(0), psnr: z.number(), codesUsed: z.number(), perplexity: z.number() })).optional(),
      perceptualSha256: z.string().optional(),
      ...provenanceFields,
    })
    .loose();

/** A run's state.json 'extra', checked against `schema` (a damaged file is named, not half-read). */
export function parseExtra<S extends z.ZodType>(schema: S, raw: unknown, dir: string): z.output<S> {
  const r = schema.safeParse(raw ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new UnmaskError(`${dir}/state.json: extra.${issue.path.join('.')}: ${issue.message}`, 'the checkpoint is damaged; restore state.json from a copy, or start a new run');
  }
  return r.data;
}

/** Reads a VQGAN checkpoint directory to resume training from it. */
export function loadVqganCheckpoint(dir: string): { config: VqganConfig; state: VqganTrainState } {
  const ck = loadCheckpoint(dir);
  const config = vqganConfigOf(ck.config, dir);
  const { ae, disc } = ck.optimizers ?? {};
  if (!ae || !disc || !ck.ema) throw new UnmaskError(`${dir} holds no optimizer state (an exported model?)`, 'train a new run instead of --resume');
  checkWeights(ck.ema, tokenizerShapes(config), `${dir} (EMA weights)`);
  checkWeights(ck.params, tokenizerShapes(config), `${dir} (params)`, (name) => name.startsWith('disc.'));
  const extra = parseExtra(VqganExtra(config.codebookSize), ck.state.extra, dir);
  return {
    config,
    state: {
      step: ck.state.step,
      params: ck.params,
      ema: ck.ema,
      optAe: ae,
      optDisc: disc,
      rng: Rng.fromState(ck.state.rng ?? new Rng(0).state()),
      lastUsed: Int32Array.from(extra.lastUsed ?? new Array(config.codebookSize).fill(ck.state.step)),
      reinitialised: extra.reinitialised ?? 0,
      seconds: extra.seconds ?? 0,
      history: extra.history ?? [],
      perceptualSha256: extra.perceptualSha256,
      provenance: { seed: extra.seed ?? null, commands: extra.commands ?? [] },
    },
  };
}

/** The validated VQGAN config stored in a checkpoint's config.json. */
export function vqganConfigOf(raw: unknown, dir: string): VqganConfig {
  return parseVqganConfig(checkKind(raw, VQGAN_KIND, dir));
}

/** Runs training steps from `state.step` up to `until`, calling `onStep` after each. */
export class VqganTrainer {
  private aePlain: TrainStep | null = null;
  private aeAdversarial: TrainStep | null = null;
  private disc: TrainStep | null = null;
  private discUpdates: ReturnType<typeof buildDiscGraph>['bnUpdates'] = [];

  constructor(
    readonly config: VqganConfig,
    readonly state: VqganTrainState,
    readonly train: ImageSet,
    readonly opts: { flip?: boolean } = {},
  ) {}

  private async aeStep(adversarial: boolean): Promise<TrainStep> {
    const c = this.config;
    if (adversarial) {
      if (!this.aeAdversarial) {
        const g = buildAeGraph(c, c.batch, true);
        this.aeAdversarial = await TrainStep.compile(g.graph, g.loss, { params: g.trained, extra: g.extra });
        await this.aePlain?.release();
        this.aePlain = null;
      }
      return this.aeAdversarial;
    }
    if (!this.aePlain) {
      const g = buildAeGraph(c, c.batch, false);
      this.aePlain = await TrainStep.compile(g.graph, g.loss, { params: g.trained, extra: g.extra });
    }
    return this.aePlain;
  }

  private async discStep(): Promise<TrainStep> {
    if (!this.disc) {
      const g = buildDiscGraph(this.config, this.config.batch);
      this.disc = await TrainStep.compile(g.graph, g.loss, { params: g.trained, extra: g.extra });
      this.discUpdates = g.bnUpdates;
    }
    return this.disc;
  }

  async step(): Promise<VqganStepInfo> {
    const c = this.config;
    const s = this.state;
    const t0 = performance.now();
    const per = c.channels * c.imageSize * c.imageSize;
    const x = new Float32Array(c.batch * per);
    const idx = Array.from({ length: c.batch }, () => s.rng.int(this.train.count));
    const flips = Array.from({ length: c.batch }, () => (this.opts.flip ? s.rng.next() < 0.5 : false));
    fillBatch(this.train, idx, x, flips);

    const adversarial = s.step >= c.discStartStep;
    const augments = parseDiffAugment(c.diffAugment);
    // DiffAugment's random parameters come from the run's Rng, so a resumed run draws the same ones.
    const augment = (which: 'real' | 'fake') =>
      augments.length ? diffAugmentFeeds(`diffAugment.${which}`, augments, drawDiffAugment(s.rng, augments, c.batch, c.imageSize), c.imageSize) : {};
    const ae = await (await this.aeStep(adversarial)).run({ x, ...(adversarial ? augment('fake') : {}) }, s.params);
    adamUpdate(s.params, ae.grads, s.optAe, { lr: c.lr });
    const info: VqganStepInfo = {
      step: s.step + 1,
      rec: num(ae.outputs.rec),
      codebook: num(ae.outputs.codebook),
      perplexity: 0,
      imagesPerSecond: 0,
    };
    if (ae.outputs.perceptual) info.perceptual = num(ae.outputs.perceptual);
    if (adversarial) {
      info.gan = num(ae.outputs.gan);
      info.discWeight = num(ae.outputs.discWeight);
      const d = await (await this.discStep()).run({ x, xhat: ae.outputs.xhat, ...augment('real'), ...augment('fake') }, s.params);
      adamUpdate(s.params, d.grads, s.optDisc, { lr: c.lr });
      for (const u of this.discUpdates) {
        updateRunning(s.params.get(`${u.name}.running_mean`).data, d.outputs[u.mean].data as Float32Array);
        updateRunning(s.params.get(`${u.name}.running_var`).data, d.outputs[u.variance].data as Float32Array);
      }
      info.discLoss = d.loss;
    }
    emaUpdate(s.ema, s.params, c.emaDecay);

    const indices = Int32Array.from(ae.outputs.indices.data as BigInt64Array, Number);
    info.perplexity = perplexity(indices, c.codebookSize);
    s.step++;
    for (const v of indices) s.lastUsed[v] = s.step;
    if (c.deadCodeSteps > 0 && s.step % c.deadCodeSteps === 0) {
      s.reinitialised += reviveDeadCodes(s, c, ae.outputs.z.data as Float32Array);
    }
    const seconds = (performance.now() - t0) / 1000;
    s.seconds += seconds;
    info.imagesPerSecond = c.batch / seconds;
    return info;
  }

  /** The EMA weights as an inference tokenizer (for validation and sample reconstructions). */
  async tokenizer(): Promise<Tokenizer> {
    return Tokenizer.fromParams(this.config, this.state.ema);
  }

  async release(): Promise<void> {
    await Promise.all([this.aePlain?.release(), this.aeAdversarial?.release(), this.disc?.release()]);
  }
}

function num(t: { data: ArrayLike<number | bigint> }): number {
  return Number(t.data[0]);
}

function updateRunning(running: Float32Array, batch: Float32Array): void {
  for (let i = 0; i < running.length; i++) running[i] = (1 - BN_MOMENTUM) * running[i] + BN_MOMENTUM * batch[i];
}

/** exp(entropy) of the code histogram: K when all K codes are used equally, 1 when one code is. */
export function perplexity(indices: Int32Array, k: number): number {
  const counts = new Float64Array(k);
  for (const v of indices) counts[v]++;
  let h = 0;
  for (const n of counts) {
    if (n > 0) {
      const p = n / indices.length;
      h -= p * Math.log(p);
    }
  }
  return Math.exp(h);
}

/**
 * Codes unused for `deadCodeSteps` steps are moved onto encoder outputs of the current batch (chosen at
 * random), so the codebook keeps following the encoder instead of leaving entries stranded.
 */
function reviveDeadCodes(s: VqganTrainState, c: VqganConfig, z: Float32Array): number {
  const name = 'quantize.embedding.weight';
  const e = s.params.get(name).data;
  const m = s.optAe.m.get(name);
  const v = s.optAe.v.get(name);
  const rows = z.length / c.embDim;
  let revived = 0;
  for (let k = 0; k < c.codebookSize; k++) {
    if (s.step - s.lastUsed[k] < c.deadCodeSteps) continue;
    const r = s.rng.int(rows);
    const off = k * c.embDim;
    for (let d = 0; d < c.embDim; d++) e[off + d] = z[r * c.embDim + d];
    m?.fill(0, off, off + c.embDim);
    v?.fill(0, off, off + c.embDim);
    s.ema.get(name).data.set(e.subarray(off, off + c.embDim), off);
    s.lastUsed[k] = s.step;
    revived++;
  }
  return revived;
}
