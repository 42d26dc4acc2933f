// A whole VQGAN training run: start or resume, step with progress, evaluate and checkpoint periodically
// (atomically, with a reconstruction grid and a model card), and stop cleanly on request.
import type { ImageSet } from '../data/image-set.ts';
import { imageGrid } from '../data/images.ts';
import { encodePng } from '../data/png.ts';
import { findCheckpoint } from '../engine/checkpoint.ts';
import { checkPerceptualNet, describeFit, perceptualNet } from '../models/perceptual.ts';
import { type VqganConfig, latentSize, parseVqganConfig } from '../models/vqgan-config.ts';
import { perplexity, initVqganState, loadVqganCheckpoint, saveVqganCheckpoint, type VqganEval, type VqganStepInfo, VqganTrainer, type VqganTrainState } from './train-vqgan.ts';
import { psnr } from '../inference/tokenizer.ts';
import { provenance, provenanceCard } from './provenance.ts';
import { UnmaskError } from '../errors.ts';
import { checkMemory } from '../engine/limits.ts';

export interface VqganRunOptions {
  out: string;
  config: VqganConfig;
  /** Settings the user gave explicitly; on --resume, the training-schedule ones among them replace the checkpoint's. */
  overrides?: Partial<VqganConfig>;
  train: ImageSet;
  val: ImageSet;
  /** Train until this many steps in total. */
  steps: number;
  seed: number;
  resume: boolean;
  checkpointEvery: number;
  flip: boolean;
  /** Validation images used for PSNR and code usage. */
  valImages: number;
  /** The command line, for the model card. */
  command: string;
  dataCredit: string;
  /** Set to true (e.g. on SIGINT) to checkpoint and stop after the current step. */
  stop?: { requested: boolean };
  onStart?: (info: { step: number; steps: number; resumed: boolean; parameters: number }) => void;
  onStep?: (info: VqganStepInfo & { steps: number }) => void;
  onCheckpoint?: (info: VqganEval & { dir: string }) => void;
}

export class RunError extends UnmaskError {
  override name = 'RunError';
}

/**
 * Stops a run whose step produced NaN or ±∞ (a diverged run): nothing more is saved, so the last
 * checkpoint (`lastSaved`, if any) stays the run's state, and the error names the step.
 */
export function checkFiniteStep(out: string, step: number, values: Record<string, number | undefined>, lastSaved: number | undefined, lowerLr: string): void {
  const bad = Object.entries(values).filter(([, v]) => v !== undefined && !Number.isFinite(v));
  if (!bad.length) return;
  const kept = lastSaved === undefined ? 'no checkpoint was saved before it' : `the checkpoint of step ${lastSaved} in ${out} is kept`;
  throw new UnmaskError(
    `training diverged at step ${step}: ${bad.map(([k, v]) => `${k} ${v}`).join(', ')}; stopped without saving, ${kept}`,
    lastSaved === undefined ? `start again with ${lowerLr}` : `resume with --resume and ${lowerLr}, or start again`,
  );
}

/** How a VQGAN run's learning rate is lowered. */
const LOWER_LR = "a lower learning rate ('lr' in --config)";

/** Opens the run: a fresh state, or the checkpoint in `out` when resuming. */
function open(o: VqganRunOptions): { config: VqganConfig; state: VqganTrainState; resumed: boolean } {
  const existing = findCheckpoint(o.out);
  if (existing && !o.resume) {
    throw new RunError(`${o.out} already holds a training run`, 'pass --resume to continue it, or choose another --out');
  }
  if (existing) {
    const { config, state } = loadVqganCheckpoint(o.out);
    const resumed = withScheduleOverrides(config, o.overrides ?? {});
    const sha = checkPerceptual(resumed);
    if (sha && state.perceptualSha256 && sha !== state.perceptualSha256) {
      throw new RunError(`${resumed.perceptual} has changed since the run started (sha256 ${state.perceptualSha256.slice(0, 12)}…, now ${sha.slice(0, 12)}…)`, 'restore the file or start a new run');
    }
    state.perceptualSha256 ??= sha;
    state.provenance = provenance(o, state.provenance);
    return { config: resumed, state, resumed: true };
  }
  checkData(o, o.config);
  const sha = checkPerceptual(o.config);
  return { config: o.config, state: { ...initVqganState(o.config, o.seed), perceptualSha256: sha, provenance: provenance(o) }, resumed: false };
}

/** An ONNX feature network must exist and fit the images before any graph is built; returns its sha256. */
function checkPerceptual(c: VqganConfig): string | undefined {
  return isOnnxPerceptual(c) ? checkPerceptualNet(c.perceptual, c.channels, c.imageSize).sha256 : undefined;
}

function checkData(o: VqganRunOptions, config: VqganConfig): void {
  if (o.train.channels !== config.channels || o.train.size !== config.imageSize) {
    throw new RunError(`the data is ${o.train.size}×${o.train.size} with ${o.train.channels} channel(s) but the model takes ${config.imageSize}×${config.imageSize} with ${config.channels}`, 'use matching data or settings');
  }
}

/** Settings that may change when a run resumes (the architecture may not). */
const SCHEDULE_KEYS = ['discStartStep', 'discWeightMax', 'lr', 'emaDecay', 'deadCodeSteps', 'perceptualWeight'] as const;

function withScheduleOverrides(config: VqganConfig, overrides: Partial<VqganConfig>): VqganConfig {
  const out = { ...config };
  for (const [k, v] of Object.entries(overrides)) {
    if ((SCHEDULE_KEYS as readonly string[]).includes(k)) Object.assign(out, { [k]: v });
    else if (JSON.stringify(v) !== JSON.stringify(config[k as keyof VqganConfig])) {
      throw new RunError(`cannot change ${k} when resuming (the checkpoint has ${JSON.stringify(config[k as keyof VqganConfig])})`, `only ${SCHEDULE_KEYS.join(', ')} may change`);
    }
  }
  return parseVqganConfig(out);
}

/**
 * A lower bound on a training step's memory: per image, about 16 activations of the first level's
 * width at full resolution kept for the backward pass; the weights with their gradients and two Adam moments.
 */
function trainingBytes(c: VqganConfig, params: number): number {
  return 4 * (c.batch * c.imageSize ** 2 * c.nf * c.chMult[0] * 16 + 4 * params);
}

export async function runVqganTraining(o: VqganRunOptions): Promise<VqganTrainState> {
  const { config, state, resumed } = open(o);
  checkData(o, config);
  checkMemory(trainingBytes(config, state.params.count()), `training this VQGAN at batch ${config.batch}`, "use a smaller --batch (or 'batch' in --config)");
  const trainer = new VqganTrainer(config, state, o.train, { flip: o.flip });
  o.onStart?.({ step: state.step, steps: o.steps, resumed, parameters: state.params.count() });
  try {
    while (state.step < o.steps) {
      const info = await trainer.step();
      checkFiniteStep(o.out, state.step, { rec: info.rec, codebook: info.codebook, perceptual: info.perceptual, gan: info.gan, 'discriminator loss': info.discLoss }, state.history.at(-1)?.step, LOWER_LR);
      o.onStep?.({ ...info, steps: o.steps });
      const last = state.step >= o.steps || o.stop?.requested;
      if (state.step % o.checkpointEvery === 0 || last) await checkpoint(o, config, trainer);
      if (o.stop?.requested) break;
    }
  } finally {
    await trainer.release();
  }
  return state;
}

async function checkpoint(o: VqganRunOptions, config: VqganConfig, trainer: VqganTrainer): Promise<void> {
  const s = trainer.state;
  const n = Math.min(o.valImages, o.val.count);
  const per = config.channels * config.imageSize * config.imageSize;
  const images = new Float32Array(n * per);
  for (let i = 0; i < n; i++) o.val.read(i, images, i * per);
  const tok = await trainer.tokenizer();
  const codes = await tok.encode(images, n);
  const recon = await tok.decode(codes, n);
  await tok.release();
  const used = new Set(codes).size;
  const result: VqganEval = {
    step: s.step,
    psnr: psnr(images, recon, n),
    codesUsed: used / config.codebookSize,
    perplexity: perplexity(codes, config.codebookSize),
  };
  checkFiniteStep(o.out, s.step, { 'validation PSNR': result.psnr }, s.history.at(-1)?.step, LOWER_LR);
  s.history = [...s.history.filter((h) => h.step !== s.step), result];
  const show = Math.min(8, n);
  const first = (data: Float32Array) => ({ n: show, channels: config.channels, height: config.imageSize, width: config.imageSize, data: data.subarray(0, show * per) });
  const grid = imageGrid([first(images), first(recon)], { cols: show });
  saveVqganCheckpoint(o.out, config, s, { 'model-card.md': vqganCard(o, config, s), 'reconstructions.png': await encodePng(grid) });
  o.onCheckpoint?.({ ...result, dir: o.out });
}

const isOnnxPerceptual = (c: VqganConfig) => c.perceptual !== 'none' && c.perceptual !== 'disc-features';

function perceptualLine(c: VqganConfig): string {
  if (c.perceptual === 'none') return 'none';
  if (c.perceptual === 'disc-features') return `discriminator feature matching (L1 on PatchGAN activations), weight ${c.perceptualWeight}; no pretrained network`;
  const net = perceptualNet(c.perceptual);
  const input = `[${net.input.shape.map((d) => d ?? '?').join(', ')}]`;
  return `LPIPS-style distance (unit-normalised channels, squared difference, mean; no learned weights) through the ONNX feature network ${c.perceptual} (sha256 ${net.sha256}; input ${input} in [0, 1], ${describeFit(net, c.channels, c.imageSize)}; outputs ${net.outputs.join(', ')}), weight ${c.perceptualWeight}`;
}

function vqganCard(o: VqganRunOptions, c: VqganConfig, s: VqganTrainState): string {
  const made = provenanceCard(s.provenance);
  const last = s.history[s.history.length - 1];
  const rows = s.history.map((h) => `| ${h.step} | ${h.psnr.toFixed(2)} | ${(100 * h.codesUsed).toFixed(1)}% | ${h.perplexity.toFixed(1)} |`);
  return `# VQGAN tokenizer

- Data: ${o.train.name} (${o.train.count} training images), validated on the first ${Math.min(o.valImages, o.val.count)} of ${o.val.name}. ${o.dataCredit}
- Architecture: ${c.imageSize}×${c.imageSize}×${c.channels} images → ${latentSize(c)}×${latentSize(c)} codes from a codebook of ${c.codebookSize} × ${c.embDim}; nf ${c.nf}, ch_mult [${c.chMult}], ${c.resBlocks} res block(s) per level, attention at [${c.attnResolutions}]; PatchGAN with ${c.discLayers} layers, ndf ${c.ndf}, from step ${c.discStartStep}.
- Parameters: ${s.params.count()} (including the discriminator).
- Perceptual term: ${perceptualLine(c)}.
- DiffAugment: ${c.diffAugment.trim() ? `${c.diffAugment} (Zhao et al. 2020) on real and fake images before the discriminator, independently drawn; its [-1, 1] constants applied to 2x − 1` : 'none'}.
- Training: Adam, lr ${c.lr}, batch ${c.batch}, EMA ${c.emaDecay}, dead-code re-initialisation every ${c.deadCodeSteps} steps (${s.reinitialised} codes re-initialised so far). ${made.seed}
${made.commands}
- Steps: ${s.step}; training time ${(s.seconds / 60).toFixed(1)} min on this machine.
${last ? `- Validation (EMA weights, step ${last.step}): PSNR ${last.psnr.toFixed(2)} dB, ${(100 * last.codesUsed).toFixed(1)}% of codes used, perplexity ${last.perplexity.toFixed(1)}.` : ''}

| step | val PSNR (dB) | codes used | perplexity |
|---|---|---|---|
${rows.join('\n')}
`;
}
