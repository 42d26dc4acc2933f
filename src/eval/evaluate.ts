// Evaluation (issue 6): the paper's trade of quality against sampling steps, measured on one model.
// For every (schedule, steps): n seeded samples, batch by batch, timed; FID and precision/recall/
// density/coverage against n real images in a feature space; plus the VQGAN's reconstruction FID (the
// floor the prior cannot beat) and the prior's validation ELBO. report/report.ts renders the result
// as report.md, report.json, plots and sample grids.
import { cpus } from 'node:os';
import type { ImageSet } from '../data/image-set.ts';
import type { Images } from '../data/images.ts';
import type { LatentSet } from '../data/latent-set.ts';
import { elboTimes, validationElbo } from '../diffusion/elbo.ts';
import { Rng } from '../engine/rng.ts';
import { CHOICE_TEMPERATURE, SAMPLERS, type SamplerName } from '../diffusion/samplers.ts';
import type { Precision } from '../engine/quantize.ts';
import { validationNll } from '../inference/autoregressive.ts';
import type { UnmaskModel } from '../inference/model.ts';
import { generate } from '../inference/tasks.ts';
import { NO_CLASS } from '../models/prior-config.ts';
import { EvalError, type FeatureExtractor, type Features, concatFeatures } from './features.ts';
import { fid } from './fid.ts';
import { loadFeatureNet } from './feature-net.ts';
import { OnnxFeatures } from './onnx-features.ts';
import { PRDC_K, type Prdc, prdc } from './prdc.ts';

/**
 * A baseline sampler that makes whole images in a fixed number of network passes, such as the
 * autoregressive twin (src/inference/autoregressive.ts; `unmask eval --ar` wires it). evaluate() measures
 * it exactly as it measures the absorbing sampler (same n, batches, seeds, features and timing).
 */
export interface BaselineSampler {
  /** The row's name in the report, e.g. 'autoregressive'. */
  label: string;
  /** Where it came from (a run directory), for the setup. */
  source: string;
  /** Parameters of its network, to show the comparison is at the same size. */
  parameters: number;
  /** Network passes per image (N for raster-order sampling of N tokens). */
  steps: number;
  /** `labels` [n]: a class per image for a class-conditional baseline, with guidance weight `guidance`. */
  generate(n: number, seed: number, temperature: number, labels?: Int32Array, guidance?: number): Promise<Images>;
  /** Its validation negative log-likelihood in bits per token (exact for an autoregressive model). */
  bitsPerToken?(latents: LatentSet): Promise<number>;
}

/** The autoregressive twin in `model` (a run of `unmask train prior --causal`) as the baseline row. */
/** A row's classes for a class-conditional model: the labels given, else the null label, so unguided rows stay unconditional. */
function classOf(model: UnmaskModel, labels?: Int32Array): { labels: Int32Array } | { label: string } | Record<string, never> {
  if (!model.classes.length) return {};
  return labels ? { labels } : { label: NO_CLASS };
}

export function autoregressiveBaseline(model: UnmaskModel): BaselineSampler {
  if (!model.prior.causal) throw new EvalError(`${model.dir} holds an absorbing prior, not the autoregressive baseline`, `pass a run of 'unmask train prior --causal' to --ar`);
  const tokens = model.prior.latent ** 2;
  return {
    label: 'autoregressive',
    source: model.dir,
    parameters: model.priorParams.count(),
    steps: tokens,
    generate: async (n, seed, temperature, labels, guidance) => (await generate(model, { n, steps: tokens, temperature, seed, ...classOf(model, labels), guidance })).images,
    bitsPerToken: (latents) => validationNll(model.prior, model.priorParams, latents),
  };
}

export interface EvaluateOptions {
  /** The real images samples are compared with: the first n of this set. */
  reference: ImageSet;
  /** The validation split, for the ELBO. */
  validation: ImageSet;
  features: FeatureExtractor;
  steps: number[];
  schedules: SamplerName[];
  /** Samples per row, and real images they are compared with. */
  n: number;
  /** Default 1.0 (the paper's steps study). */
  temperature?: number;
  /** MaskGIT's choice temperatures for the confidence order, a series of rows each (default [4.5]). */
  choiceTemperatures?: number[];
  /**
   * Class-conditional models: guidance weights to measure. Each row then samples image i with the class
   * of the i-th reference image (so the classes come in the data's proportions) at every weight; without
   * it, rows are unconditional (the null label, not `generate`'s default of classes drawn as in the data).
   */
  guidance?: number[];
  /** Batch b of every row uses seed + b. Default 0. */
  seed?: number;
  /** Images generated per call. Default 64. */
  batch?: number;
  /** The prior's linear layers (TaskOptions.precision). Default 'fp32'. */
  precision?: Precision;
  /** Neighbours for PRDC. Default 3. */
  k?: number;
  /** Validation images for the ELBO (0 skips it). Default 256. */
  elboImages?: number;
  /** Stratified times for the ELBO. Default 16. */
  elboTimes?: number;
  /** Images in each sample grid. Default 64. */
  gridImages?: number;
  /** The autoregressive baseline's row, when given. */
  autoregressive?: BaselineSampler;
  onProgress?: (p: { task: string; done: number; total: number }) => void;
}

export interface Quality extends Prdc {
  fid: number;
}

export interface EvalRow extends Quality {
  method: string;
  schedule: string;
  steps: number;
  /** The confidence order's choice temperature; null for the other orders and the baseline. */
  choiceTemperature: number | null;
  /** Guidance weight of a class-conditional row; null for an unconditional one. */
  guidance: number | null;
  /** Wall time per generated image (sampling and decoding), seconds. */
  secondsPerImage: number;
  /** Sample grid file in the report directory. */
  grid: string;
}

export interface EvalReport {
  setup: {
    model: string;
    data: string;
    reference: string;
    n: number;
    k: number;
    temperature: number;
    /** The confidence order's choice temperatures, one series of rows each. */
    choiceTemperatures: number[];
    seed: number;
    batch: number;
    precision: Precision;
    features: string;
    featureDim: number;
    tokens: number;
    codebookSize: number;
    priorParameters: number;
    autoregressive: { source: string; parameters: number } | null;
    machine: string;
    date: string;
  };
  /** Reference images against their VQGAN reconstructions. */
  reconstruction: Quality & { grid: string };
  elbo: { bitsPerToken: number; autoregressiveBitsPerToken: number | null; images: number; times: number } | null;
  rows: EvalRow[];
}

export interface EvalResult {
  report: EvalReport;
  /** Grids to write, by file name. */
  grids: Record<string, Images>;
}

/**
 * The feature space named by `spec`: an ONNX file (any network [B, C, H, W] → [B, D]) or a run of
 * `unmask train features`, checked against the images it will see.
 */
export async function openFeatureExtractor(spec: string, channels: number, size: number): Promise<FeatureExtractor> {
  if (spec.endsWith('.onnx')) return OnnxFeatures.open(spec, channels, size);
  const { net } = loadFeatureNet(spec);
  const c = net.config;
  if (c.channels !== channels || c.imageSize !== size) {
    throw new EvalError(`${spec} takes ${c.imageSize}×${c.imageSize} images with ${c.channels} channel(s) but the data has ${size}×${size} with ${channels}`, 'train a feature net on this data');
  }
  return net;
}

/** Checks everything that can be checked before minutes of sampling. */
function checkOptions(model: UnmaskModel, o: EvaluateOptions, k: number): void {
  if (model.prior.causal) throw new EvalError(`${model.dir} is the autoregressive baseline`, 'evaluate an absorbing prior and pass the baseline as --ar');
  const c = model.tokenizer.config;
  for (const set of [o.reference, o.validation]) {
    if (set.channels !== c.channels || set.size !== c.imageSize) {
      throw new EvalError(`${set.name} has ${set.size}×${set.size} images with ${set.channels} channel(s) but the model makes ${c.imageSize}×${c.imageSize} with ${c.channels}`, 'evaluate on the data the model was trained on');
    }
  }
  if (!Number.isInteger(o.n) || o.n < 1) throw new EvalError(`n must be a whole number ≥ 1, got ${o.n}`, 'pass --n 1 or more');
  if (o.n > o.reference.count) throw new EvalError(`n = ${o.n} but ${o.reference.name} has only ${o.reference.count} images`, 'lower --n, or compare with the training split (--reference train)');
  if (o.n <= o.features.dim) {
    throw new EvalError(`n = ${o.n} samples cannot be evaluated in ${o.features.dim}-d features: FID needs more samples than dimensions (≥ ${o.features.dim + 1}; thousands for a stable value)`, 'raise --n');
  }
  if (o.n <= k) throw new EvalError(`n = ${o.n} samples are too few for PRDC with k = ${k}`, 'raise --n');
  const tokens = model.prior.latent ** 2;
  for (const s of o.steps) if (!Number.isInteger(s) || s < 1 || s > tokens) throw new EvalError(`steps must be whole numbers from 1 to ${tokens} (the tokens per image), got ${s}`, `pass --steps values from 1 to ${tokens}`);
  for (const s of o.schedules) if (!(s in SAMPLERS)) throw new EvalError(`unknown schedule '${s}'`, `use ${Object.keys(SAMPLERS).join(', ')}`);
  if (o.guidance) {
    if (!model.classes.length) throw new EvalError(`${model.dir} is unconditional: guidance needs a class-conditional model (unmask train prior --labels)`, 'drop --guidance');
    if (!o.reference.label) throw new EvalError(`${o.reference.name} has no labels to draw the classes from`, 'drop --guidance');
    for (const w of o.guidance) if (!(w >= 0) || !Number.isFinite(w)) throw new EvalError(`guidance weights must be numbers ≥ 0, got ${w}`, 'pass --guidance values ≥ 0');
  }
  if (o.choiceTemperatures) {
    const temps = o.choiceTemperatures;
    if (temps.length === 0) throw new EvalError('no choice temperature to evaluate', 'give at least one --choice-temp value, or leave it out for the default');
    for (const t of temps) if (!(t >= 0) || !Number.isFinite(t)) throw new EvalError(`choice temperatures must be numbers ≥ 0, got ${t}`, 'pass --choice-temp values ≥ 0');
    if (new Set(temps).size !== temps.length) throw new EvalError(`choice temperature listed twice: ${temps.join(', ')}`, 'list each --choice-temp value once');
  }
  if (o.steps.length === 0 || o.schedules.length === 0) throw new EvalError('no steps or no schedule to evaluate', 'give at least one steps value and one schedule');
}

/**
 * `n` images of `set` drawn without replacement (a fixed seed, so every report compares with the same
 * ones), with their labels, in the set's order. Not the first n: a split in category order (the emoji
 * are) would compare the samples with a few categories; nor every (count/n)-th: that aliases with a
 * split interleaved by class (Fashion-MNIST's is).
 */
export function sampleOf(set: ImageSet, n: number): ImageSet {
  if (n >= set.count) return set;
  const rng = new Rng(0x5e7);
  const all = Int32Array.from({ length: set.count }, (_, i) => i);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(set.count - i);
    [all[i], all[j]] = [all[j], all[i]];
  }
  const at = all.slice(0, n).sort();
  return { ...set, count: n, read: (i, out, offset) => set.read(at[i], out, offset), ...(set.label ? { label: (i: number) => set.label!(at[i]) } : {}) };
}

function readImages(set: ImageSet, first: number, count: number): Float32Array {
  const per = set.channels * set.size * set.size;
  const out = new Float32Array(count * per);
  for (let i = 0; i < count; i++) set.read(first + i, out, i * per);
  return out;
}

/** Keeps the first `max` images of a stream of batches, for a grid. */
class GridKeeper {
  private parts: Images[] = [];
  private have = 0;

  constructor(private max: number) {}

  add(im: Images): void {
    if (this.have >= this.max) return;
    const m = Math.min(im.n, this.max - this.have);
    const per = im.channels * im.height * im.width;
    this.parts.push({ ...im, n: m, data: im.data.slice(0, m * per) });
    this.have += m;
  }

  images(): Images {
    const first = this.parts[0];
    const per = first.channels * first.height * first.width;
    const data = new Float32Array(this.have * per);
    let at = 0;
    for (const p of this.parts) {
      data.set(p.data, at);
      at += p.data.length;
    }
    return { ...first, n: this.have, data };
  }
}

function quality(real: Features, fake: Features, k: number): Quality {
  return { fid: fid(real, fake), ...prdc(real, fake, k) };
}

/** Defaults filled in: what one evaluation runs with. */
type Settings = EvaluateOptions & Required<Pick<EvaluateOptions, 'temperature' | 'choiceTemperatures' | 'seed' | 'batch' | 'k' | 'gridImages' | 'precision'>>;

/** Features of the n real images, and the floor: the same images through the VQGAN. */
async function realAndReconstructed(model: UnmaskModel, o: Settings, grids: Record<string, Images>): Promise<{ real: Features; reconstruction: Quality }> {
  const c = model.tokenizer.config;
  const shape = { channels: c.channels, height: c.imageSize, width: c.imageSize };
  const [realParts, reconParts] = [[] as Features[], [] as Features[]];
  const [realGrid, reconGrid] = [new GridKeeper(o.gridImages), new GridKeeper(o.gridImages)];
  for (let i = 0; i < o.n; i += 256) {
    const m = Math.min(256, o.n - i);
    const images = readImages(o.reference, i, m);
    const recon = await model.tokenizer.reconstruct(images, m);
    realParts.push(await o.features.features(images, m));
    reconParts.push(await o.features.features(recon, m));
    realGrid.add({ n: m, ...shape, data: images });
    reconGrid.add({ n: m, ...shape, data: recon });
    o.onProgress?.({ task: 'real images and reconstructions', done: i + m, total: o.n });
  }
  grids['reference.png'] = realGrid.images();
  grids['reconstructions.png'] = reconGrid.images();
  const real = concatFeatures(realParts);
  return { real, reconstruction: quality(real, concatFeatures(reconParts), o.k) };
}

/** The prior's ELBO (and the baseline's exact NLL) on the codes of the first validation images. */
async function validationBits(model: UnmaskModel, o: Settings): Promise<EvalReport['elbo']> {
  const images = Math.min(o.elboImages ?? 256, o.validation.count);
  if (images === 0) return null;
  o.onProgress?.({ task: 'validation ELBO', done: 0, total: 1 });
  const tokens = model.prior.latent ** 2;
  const latents: LatentSet = { count: images, tokens: await model.tokenizer.encode(readImages(sampleOf(o.validation, images), 0, images), images) };
  const times = Math.min(o.elboTimes ?? 16, tokens);
  const bitsPerToken = await validationElbo(model.prior, model.priorParams, latents, elboTimes(tokens, times), o.seed);
  const autoregressiveBitsPerToken = (await o.autoregressive?.bitsPerToken?.(latents)) ?? null;
  o.onProgress?.({ task: 'validation ELBO', done: 1, total: 1 });
  return { bitsPerToken, autoregressiveBitsPerToken, images, times };
}

/**
 * One row: an untimed warm-up batch (it builds the sessions this setting needs), then n samples in
 * batches (batch b seeded seed + b), timed per call; features of every sample; metrics against `real`.
 */
async function measureRow(
  o: Settings,
  real: Features,
  task: string,
  make: (m: number, seed: number, labels?: Int32Array) => Promise<Images>,
): Promise<{ quality: Quality; secondsPerImage: number; grid: Images }> {
  // Image i of a class-conditional row gets the class of reference image i.
  const labelsFor = (first: number, m: number) => o.reference.label && Int32Array.from({ length: m }, (_, j) => o.reference.label!(first + j));
  await make(Math.min(o.batch, o.n), o.seed, labelsFor(0, Math.min(o.batch, o.n)));
  const parts: Features[] = [];
  const keep = new GridKeeper(o.gridImages);
  let seconds = 0;
  for (let b = 0, done = 0; done < o.n; b++) {
    const m = Math.min(o.batch, o.n - done);
    const t0 = performance.now();
    const images = await make(m, o.seed + b, labelsFor(done, m));
    seconds += (performance.now() - t0) / 1000;
    parts.push(await o.features.features(images.data, m));
    keep.add(images);
    done += m;
    o.onProgress?.({ task, done, total: o.n });
  }
  return { quality: quality(real, concatFeatures(parts), o.k), secondsPerImage: seconds / o.n, grid: keep.images() };
}

export async function evaluate(model: UnmaskModel, options: EvaluateOptions): Promise<EvalResult> {
  const o: Settings = {
    ...options,
    temperature: options.temperature ?? 1,
    choiceTemperatures: options.choiceTemperatures ?? [CHOICE_TEMPERATURE],
    seed: options.seed ?? 0,
    batch: options.batch ?? 64,
    precision: options.precision ?? 'fp32',
    k: options.k ?? PRDC_K,
    gridImages: options.gridImages ?? 64,
  };
  checkOptions(model, o, o.k);
  o.reference = sampleOf(o.reference, o.n);
  const grids: Record<string, Images> = {};
  const { real, reconstruction } = await realAndReconstructed(model, o, grids);
  const elbo = await validationBits(model, o);

  const rows: EvalRow[] = [];
  const weights: (number | null)[] = o.guidance ?? [null];
  // Tasks and grid names gain the choice temperature only when there are several (one keeps the names reports always had).
  const several = o.choiceTemperatures.length > 1;
  const addRow = async (row: Pick<EvalRow, 'method' | 'schedule' | 'steps' | 'choiceTemperature' | 'guidance' | 'grid'>, make: (m: number, seed: number, labels?: Int32Array) => Promise<Images>) => {
    const { method, schedule, steps, choiceTemperature, guidance } = row;
    const task = `${method === 'absorbing diffusion' ? `sample ${schedule} ${steps} steps` : `sample ${method}`}${several && choiceTemperature !== null ? `, choice temperature ${choiceTemperature}` : ''}${guidance === null ? '' : `, guidance ${guidance}`}`;
    const r = await measureRow(o, real, task, guidance === null ? (m, seed) => make(m, seed) : make);
    grids[row.grid] = r.grid;
    rows.push({ ...row, ...r.quality, secondsPerImage: r.secondsPerImage });
  };
  const suffix = (w: number | null, ct: number | null = null) => `${several && ct !== null ? `-ct${ct}` : ''}${w === null ? '' : `-w${w}`}`;
  for (const schedule of o.schedules) {
    for (const steps of o.steps) {
      for (const ct of schedule === 'confidence' ? o.choiceTemperatures : [null]) {
        for (const w of weights) {
          const row = { method: 'absorbing diffusion', schedule, steps, choiceTemperature: ct, guidance: w, grid: `samples-${schedule}-${steps}${suffix(w, ct)}.png` };
          await addRow(row, async (m, seed, labels) =>
            (await generate(model, { n: m, steps, temperature: o.temperature, choiceTemperature: ct ?? undefined, sampler: schedule, seed, ...classOf(model, labels), guidance: w ?? 0, precision: o.precision })).images);
        }
      }
    }
  }
  const ar = o.autoregressive;
  // The baseline samples the same classes, at the same guidance weights, when the rows are class-conditional.
  if (ar) {
    for (const w of weights) {
      const row = { method: ar.label, schedule: 'raster order', steps: ar.steps, choiceTemperature: null, guidance: w, grid: `samples-autoregressive${suffix(w)}.png` };
      await addRow(row, (m, seed, labels) => ar.generate(m, seed, o.temperature, labels, w ?? 0));
    }
  }

  const cpu = cpus();
  const report: EvalReport = {
    setup: {
      model: model.dir,
      data: o.reference.name.replace(/-(train|val)$/, ''),
      reference: `${o.n} images of ${o.reference.name}, drawn without replacement`,
      n: o.n,
      k: o.k,
      temperature: o.temperature,
      choiceTemperatures: o.choiceTemperatures,
      seed: o.seed,
      batch: o.batch,
      precision: o.precision,
      features: o.features.name,
      featureDim: o.features.dim,
      tokens: model.prior.latent ** 2,
      codebookSize: model.prior.codebookSize,
      priorParameters: model.priorParams.count(),
      autoregressive: ar ? { source: ar.source, parameters: ar.parameters } : null,
      machine: `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}`,
      date: new Date().toISOString(),
    },
    reconstruction: { ...reconstruction, grid: 'reconstructions.png' },
    elbo,
    rows,
  };
  return { report, grids };
}
