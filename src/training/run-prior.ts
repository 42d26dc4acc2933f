// A whole prior training run: the dataset encoded once by the tokenizer, then steps with progress,
// validation ELBO and sample grids at each checkpoint, atomic checkpoints that hold a complete model.
import { type ImageSet, mirroredSet } from '../data/image-set.ts';
import type { LatentSet } from '../data/latent-set.ts';
import { imageGrid } from '../data/images.ts';
import { encodePng } from '../data/png.ts';
import { elboTimes, validationElbo } from '../diffusion/elbo.ts';
import { findCheckpoint, loadCheckpoint, samplingWeights } from '../engine/checkpoint.ts';
import type { ParamStore } from '../engine/params.ts';
import { validationNll } from '../inference/autoregressive.ts';
import { UnmaskModel } from '../inference/model.ts';
import { generate } from '../inference/tasks.ts';
import { loadTokenizerWeights, resolveModel } from '../inference/model-dir.ts';
import { PRIOR_KIND, checkKind } from '../inference/model-format.ts';
import { checkWeights, priorShapes } from '../inference/weights-check.ts';
import { Tokenizer } from '../inference/tokenizer.ts';
import { type PriorConfig, parsePriorConfig } from '../models/prior-config.ts';
import { type VqganConfig, latentSize } from '../models/vqgan-config.ts';
import { concatLatents, encodeDataset, tokenizerHash } from './latents.ts';
import { RunError, checkFiniteStep } from './run-vqgan.ts';
import { checkMemory } from '../engine/limits.ts';
import { type Provenance, provenance, provenanceCard } from './provenance.ts';
import { AutoregressiveTrainer } from './train-autoregressive.ts';
import { type PriorStepInfo, PriorTrainer, type PriorTrainState, initPriorState, loadPriorCheckpoint, savePriorCheckpoint } from './train-prior.ts';

export interface PriorEval {
  step: number;
  /** Stratified validation ELBO, bits per token; for a causal prior, the exact NLL. */
  elbo: number;
}

export interface PriorRunOptions {
  out: string;
  /** The tokenizer's run directory (for a new run; a resumed run carries its own copy). */
  vqgan?: string;
  /**
   * A model (embedded name, model directory or prior run) whose prior a new run starts from: fine-tuning.
   * The run takes that prior's architecture and sampling weights (fresh optimizer, schedule and step
   * count) and must use the same tokenizer, which it defaults to.
   */
  init?: string;
  /** Prior settings other than codebookSize and latent (which come from the tokenizer). */
  config: Partial<PriorConfig>;
  /**
   * Settings the user gave explicitly; on resume, the training-schedule ones among them replace the
   * checkpoint's, and any other that differs from the checkpoint is refused (never silently ignored).
   */
  overrides?: Partial<PriorConfig>;
  train: ImageSet;
  val: ImageSet;
  steps: number;
  seed: number;
  resume: boolean;
  checkpointEvery: number;
  /** Validation grids for the ELBO, and times per grid. */
  valLatents: number;
  elboTimes: number;
  /** Sampling steps for the grid saved at each checkpoint. */
  sampleSteps: number;
  cacheDir: string;
  command: string;
  dataCredit: string;
  stop?: { requested: boolean };
  onStart?: (info: { step: number; steps: number; resumed: boolean; parameters: number }) => void;
  /** Images encoded so far of all training and validation images (cached ones count as done at once). */
  onEncode?: (done: number, total: number) => void;
  onStep?: (info: PriorStepInfo & { steps: number }) => void;
  onCheckpoint?: (info: PriorEval & { dir: string; metric: 'ELBO' | 'NLL' }) => void;
}

interface Opened {
  config: PriorConfig;
  tokenizer: Tokenizer;
  tokenizerConfig: VqganConfig;
  tokenizerParams: ParamStore;
  state: PriorTrainState;
  resumed: boolean;
  history: PriorEval[];
  seconds: number;
  /** CPU time of the training process (all its threads) in the same spans, the compute on a shared machine. */
  cpuSeconds: number;
  provenance: Provenance;
}

function open(o: PriorRunOptions): Opened {
  if (findCheckpoint(o.out)) {
    if (!o.resume) throw new RunError(`${o.out} already holds a training run`, 'pass --resume to continue it, or choose another --out');
    const r = loadPriorCheckpoint(o.out);
    const extra = r.extra;
    const config = withScheduleOverrides(r.prior, o.overrides ?? {});
    return {
      config,
      tokenizer: Tokenizer.fromParams(r.tokenizer, r.tokenizerParams, `${o.out} (tokenizer)`),
      tokenizerConfig: r.tokenizer,
      tokenizerParams: r.tokenizerParams,
      state: r.state,
      resumed: true,
      history: extra.history ?? [],
      seconds: extra.seconds ?? 0,
      cpuSeconds: extra.cpuSeconds ?? 0,
      provenance: provenance(o, extra),
    };
  }
  const tokenizerSource = o.vqgan ?? o.init;
  if (!tokenizerSource) throw new RunError('a new prior needs a tokenizer', 'pass --vqgan: a run of unmask train vqgan, or a model (embedded name or directory) whose tokenizer to reuse');
  const vq = loadTokenizerWeights(tokenizerSource);
  const start = o.init === undefined ? null : loadInitPrior(o.init);
  const settings = start ? initSettings(start, o.overrides ?? {}) : o.config;
  const config = parsePriorConfig({ ...settings, codebookSize: vq.config.codebookSize, latent: latentSize(vq.config) });
  if (config.classes.length && config.classes.join('\n') !== o.train.classes?.join('\n')) {
    const fix = start ? `fine-tune ${start.dir} on the data it was trained on` : 'train with --labels on fashion or emoji';
    throw new RunError(`a class-conditional prior trains on the data's own labels, and ${o.train.name} ${o.train.classes ? `has the classes ${o.train.classes.join(', ')}` : 'has none'}`, fix);
  }
  const state = initPriorState(config, o.seed);
  if (start) {
    const own = o.vqgan === undefined ? null : loadTokenizerWeights(start.dir);
    if (own && tokenizerHash(vq.config, vq.params) !== tokenizerHash(own.config, own.params)) {
      throw new RunError(`--vqgan ${o.vqgan} is not the tokenizer ${start.dir} was trained with, so its prior would read other codes`, `drop --vqgan (the run then uses ${start.dir}'s own tokenizer)`);
    }
    // Fine-tuning starts from the model's sampling weights; the optimizer's moments start at zero.
    for (const name of state.params.names()) state.params.get(name).data.set(start.weights.get(name).data);
    state.ema = state.params.clone();
  }
  return {
    config,
    tokenizer: Tokenizer.fromParams(vq.config, vq.params),
    tokenizerConfig: vq.config,
    tokenizerParams: vq.params,
    state,
    resumed: false,
    history: [],
    seconds: 0,
    cpuSeconds: 0,
    provenance: provenance({ ...o, init: start ? `${start.dir} at its step ${start.step}` : undefined }),
  };
}

interface InitPrior {
  dir: string;
  step: number;
  config: PriorConfig;
  weights: ParamStore;
}

/** A model's prior to fine-tune: its config and sampling weights (a run's EMA), checked against each other, read once. */
function loadInitPrior(nameOrDir: string): InitPrior {
  const dir = resolveModel(nameOrDir);
  const ck = loadCheckpoint(dir);
  const config = parsePriorConfig(checkKind(ck.config, PRIOR_KIND, dir).prior);
  const weights = samplingWeights(ck);
  checkWeights(weights, priorShapes(config), `${dir} (prior weights)`);
  return { dir, step: ck.state.step, config, weights };
}

/** What a fine-tuned prior must keep of the model it starts from; a flag that would change it is refused. */
const ARCHITECTURE_KEYS = ['dim', 'layers', 'heads', 'causal', 'classes'] as const;

/**
 * A fine-tuning run's settings: the model's own recipe (objective, optimizer, EMA, label dropout …) with
 * the flags given on top; the learning rate is constant after warm-up unless a cosine decay is asked for
 * (the model's decay was over its own steps).
 */
function initSettings(start: InitPrior, overrides: Partial<PriorConfig>): Partial<PriorConfig> {
  for (const k of ARCHITECTURE_KEYS) {
    const v = overrides[k];
    if (v !== undefined && JSON.stringify(v) !== JSON.stringify(start.config[k])) {
      throw new RunError(`cannot change ${k} to ${JSON.stringify(v)} when fine-tuning ${start.dir} (it has ${JSON.stringify(start.config[k])})`, 'drop that flag: --init keeps the model\'s architecture and classes');
    }
  }
  const { codebookSize: _k, latent: _n, ...recipe } = start.config;
  return { ...recipe, lrDecaySteps: 0, ...overrides };
}

/** Settings that may change when a run resumes (the architecture, objective and batch may not). */
const SCHEDULE_KEYS = ['lr', 'warmup', 'emaDecay', 'gradClip'] as const;

function withScheduleOverrides(config: PriorConfig, overrides: Partial<PriorConfig>): PriorConfig {
  const out = { ...config };
  for (const [k, v] of Object.entries(overrides)) {
    if ((SCHEDULE_KEYS as readonly string[]).includes(k)) Object.assign(out, { [k]: v });
    else if (JSON.stringify(v) !== JSON.stringify(config[k as keyof PriorConfig])) {
      throw new RunError(`cannot change ${k} to ${JSON.stringify(v)} when resuming (the run has ${JSON.stringify(config[k as keyof PriorConfig])})`, `only ${SCHEDULE_KEYS.join(', ')} may change; drop that flag, or start a new run in another --out`);
    }
  }
  return parsePriorConfig(out);
}

/**
 * A lower bound on a training step's memory: per grid and layer, the activations kept for the backward
 * pass (about 12 of width d per token) and the attention maps; the weights, gradients and Adam moments.
 */
function trainingBytes(c: PriorConfig, params: number): number {
  const n = c.latent * c.latent;
  return 4 * (c.batch * c.layers * (12 * n * c.dim + 2 * c.heads * n * n) + 4 * params);
}

export async function runPriorTraining(o: PriorRunOptions): Promise<PriorTrainState> {
  const run = open(o);
  checkMemory(trainingBytes(run.config, run.state.params.count()), `training this prior at batch ${run.config.batch}`, 'use a smaller --batch');
  const vq = run.tokenizerConfig;
  if (o.train.channels !== vq.channels || o.train.size !== vq.imageSize) {
    throw new RunError(`the data is ${o.train.size}×${o.train.size} with ${o.train.channels} channel(s) but the tokenizer takes ${vq.imageSize}×${vq.imageSize} with ${vq.channels}`, 'use the data the tokenizer was trained on');
  }
  const key = tokenizerHash(vq, run.tokenizerParams);
  const sets = run.config.flip ? [o.train, mirroredSet(o.train)] : [o.train];
  // Progress counts the images encoded of every set together; a cached set counts as done at once.
  const all = [...sets, o.val].reduce((n, s) => n + s.count, 0);
  let before = 0;
  const encode = (set: ImageSet) => async () => {
    const start = before;
    const latents = await encodeDataset(run.tokenizer, key, set, o.cacheDir, (done) => o.onEncode?.(start + done, all));
    before += set.count;
    o.onEncode?.(before, all);
    return latents;
  };
  const train = concatLatents(await sequential(sets.map(encode)));
  const valAll = await encode(o.val)();
  const nVal = Math.min(o.valLatents, valAll.count);
  const n = run.config.latent * run.config.latent;
  const val: LatentSet = { count: nVal, tokens: valAll.tokens.subarray(0, nVal * n) };
  const trainer = run.config.causal ? new AutoregressiveTrainer(run.config, run.state, train) : new PriorTrainer(run.config, run.state, train);
  o.onStart?.({ step: run.state.step, steps: o.steps, resumed: run.resumed, parameters: run.state.params.count() });
  try {
    while (run.state.step < o.steps) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const info = await trainer.step();
      run.seconds += (performance.now() - t0) / 1000;
      run.cpuSeconds += cpuSince(c0);
      checkFiniteStep(o.out, run.state.step, { loss: info.loss, 'gradient norm': info.gradNorm }, run.history.at(-1)?.step, 'a lower --lr');
      o.onStep?.({ ...info, steps: o.steps });
      const last = run.state.step >= o.steps || o.stop?.requested;
      if (run.state.step % o.checkpointEvery === 0 || last) {
        const t1 = performance.now();
        const c1 = process.cpuUsage();
        await checkpoint(o, run, val);
        run.seconds += (performance.now() - t1) / 1000;
        run.cpuSeconds += cpuSince(c1);
      }
      if (o.stop?.requested) break;
    }
  } finally {
    await trainer.release();
    await run.tokenizer.release();
  }
  return run.state;
}

/** CPU seconds (user + system, every thread) since `start`. */
function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

async function sequential<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = [];
  for (const job of jobs) out.push(await job());
  return out;
}

async function checkpoint(o: PriorRunOptions, run: Opened, val: LatentSet): Promise<void> {
  const s = run.state;
  const elbo = run.config.causal ? await validationNll(run.config, s.ema, val) : await validationElbo(run.config, s.ema, val, elboTimes(run.config.latent ** 2, o.elboTimes), 1234);
  const result: PriorEval = { step: s.step, elbo };
  checkFiniteStep(o.out, s.step, { [`validation ${run.config.causal ? 'NLL' : 'ELBO'}`]: elbo }, run.history.at(-1)?.step, 'a lower --lr');
  run.history = [...run.history.filter((h) => h.step !== s.step), result];
  const model = new UnmaskModel(o.out, run.tokenizer, run.config, s.ema, null);
  const samples = await generate(model, { n: 16, steps: Math.min(o.sampleSteps, run.config.latent ** 2), temperature: 0.9, seed: 0 });
  await model.releasePrior();
  const grid = imageGrid([samples.images], { cols: 8 });
  savePriorCheckpoint(o.out, run.config, run.tokenizerConfig, run.tokenizerParams, s, { history: run.history, seconds: run.seconds, cpuSeconds: run.cpuSeconds, ...run.provenance }, {
    'model-card.md': priorCard(o, run),
    'samples.png': await encodePng(grid),
  });
  o.onCheckpoint?.({ ...result, dir: o.out, metric: run.config.causal ? 'NLL' : 'ELBO' });
}

function priorCard(o: PriorRunOptions, run: Opened): string {
  const c = run.config;
  const vq = run.tokenizerConfig;
  const rows = run.history.map((h) => `| ${h.step} | ${h.elbo.toFixed(4)} |`);
  const objective = (c.causal ? 'autoregressive (causal twin): next-token cross-entropy, raster order' : `loss ${c.loss}, time sampling ${c.timeSampling}, ${c.maskSchedule} masking`) +
    (c.dropout ? `, dropout ${c.dropout}` : '') +
    (c.flip ? ', left–right mirrored copies of the training images' : '');
  const schedule = c.lrDecaySteps ? `, cosine decay to ${c.lr / 10} at step ${c.lrDecaySteps}` : '';
  const classes = c.classes.length ? `\n- Classes (${c.classes.length}, label token; null label for ${Math.round(100 * c.labelDropout)}% of training grids, for classifier-free guidance): ${c.classes.join(', ')}.` : '';
  const made = provenanceCard(run.provenance);
  const validation = c.causal
    ? `Validation NLL (EMA weights; exact, ${o.valLatents} validation grids; bits per token — the absorbing prior's ELBO bounds the same quantity from above):

| step | NLL (bits/token) |`
    : `Validation ELBO (EMA weights; ${o.elboTimes} stratified times × ${o.valLatents} validation grids; bits per token):

| step | ELBO (bits/token) |`;
  return `# unmask model: ${c.causal ? 'autoregressive baseline' : 'absorbing-diffusion prior'} + VQGAN tokenizer

- Data: ${o.train.name} (${o.train.count} training images). ${o.dataCredit}
- Tokenizer: ${vq.imageSize}×${vq.imageSize}×${vq.channels} images ↔ ${c.latent}×${c.latent} codes, codebook ${c.codebookSize}.
- Prior: ${c.layers} layers, width ${c.dim}, ${c.heads} heads, ${run.state.params.count()} parameters; ${objective}; Adam lr ${c.lr} with ${c.warmup} warm-up steps${schedule}, batch ${c.batch}, EMA ${c.emaDecay}${c.gradClip ? `, gradient clip ${c.gradClip}` : ''}. ${made.seed}${classes}
${made.commands}
- Steps: ${run.state.step}; training time ${(run.seconds / 60).toFixed(1)} min on this machine (${(run.cpuSeconds / 60).toFixed(1)} CPU-minutes).

${validation}
|---|---|
${rows.join('\n')}
`;
}
