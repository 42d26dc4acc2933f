// evaluate() end to end on a tiny untrained model, its untrained autoregressive twin and an untrained
// feature net: every (schedule, steps) row and the baseline's row are measured and written as report.md, report.json, two plots and sample
// grids; the validation ELBO and the baseline's NLL equal their definitions computed here independently;
// inputs that cannot be evaluated fail before any sampling, with one clear line.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import type { ImageSet } from '../../src/data/image-set.ts';
import { maskSample } from '../../src/diffusion/absorbing.ts';
import { Graph } from '../../src/engine/graph.ts';
import { nd } from '../../src/engine/ndarray.ts';
import { ParamStore } from '../../src/engine/params.ts';
import { evaluate as evaluateGraph } from '../../src/engine/reference.ts';
import { Rng } from '../../src/engine/rng.ts';
import { transformerConfig } from '../../src/models/prior-config.ts';
import { transformer } from '../../src/models/transformer.ts';
import { Scope } from '../../src/nn/scope.ts';
import { Golden } from '../helpers/golden.ts';
import { OBJECTIVE } from '../helpers/tolerances.ts';
import { FeatureNet, featureNetGraph, parseFeatureNetConfig } from '../../src/eval/feature-net.ts';
import { parsePriorConfig } from '../../src/models/prior-config.ts';
import { parseVqganConfig } from '../../src/models/vqgan-config.ts';
import { elboTimes } from '../../src/diffusion/elbo.ts';
import { type EvalReport, type EvalRow, type EvaluateOptions, autoregressiveBaseline, evaluate, sampleOf } from '../../src/eval/evaluate.ts';
import { recommendedSampling, reportMarkdown, writeReport } from '../../src/eval/report/report.ts';
import { loadModel } from '../../src/inference/model-dir.ts';
import type { UnmaskModel } from '../../src/inference/model.ts';
import { initPriorState, savePriorCheckpoint } from '../../src/training/train-prior.ts';
import { initVqganState } from '../../src/training/train-vqgan.ts';

const vq = parseVqganConfig({ channels: 1, imageSize: 16, nf: 32, chMult: [1, 1], resBlocks: 1, attnResolutions: [], codebookSize: 16, embDim: 8, ndf: 8, discLayers: 1 });
const prior = parsePriorConfig({ codebookSize: 16, latent: 8, dim: 16, layers: 1, heads: 2, batch: 2 });
const featureConfig = parseFeatureNetConfig({ channels: 1, imageSize: 16, width: 4, dim: 8 });
const dir = mkdtempSync(join(tmpdir(), 'unmask-eval-'));
let model: UnmaskModel;
let ar: UnmaskModel;
let features: FeatureNet;

/** Seeded synthetic images: soft stripes whose angle and phase vary with the index. */
function images(name: string, count: number, size = 16): ImageSet {
  return {
    name,
    channels: 1,
    size,
    count,
    read(i, out, offset) {
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) out[offset + y * size + x] = 0.5 + 0.5 * Math.sin(0.3 * (x * Math.cos(i) + y * Math.sin(i)) + i);
    },
  };
}

beforeAll(() => {
  savePriorCheckpoint(join(dir, 'model'), prior, vq, initVqganState(vq, 1).ema, initPriorState(prior, 2));
  model = loadModel(join(dir, 'model'));
  const causal = parsePriorConfig({ ...prior, causal: true });
  savePriorCheckpoint(join(dir, 'ar'), causal, vq, initVqganState(vq, 1).ema, initPriorState(causal, 3));
  ar = loadModel(join(dir, 'ar'));
  features = new FeatureNet(featureConfig, ParamStore.init(featureNetGraph(featureConfig, 1), new Rng(3)), 'untrained test net');
});
afterAll(async () => {
  await Promise.all([model.release(), ar.release(), features.release()]);
  rmSync(dir, { recursive: true, force: true });
});

/** Token logits [n, K] of a model's prior for one grid's tokens, through the float64 reference evaluator (not ONNX Runtime). */
function logitsOf(m: UnmaskModel, tokens: number[]): number[][] {
  const g = new Graph();
  const xt = g.input('tokens', [1, tokens.length], 'int64');
  const logits = transformer(new Scope(g), xt, transformerConfig(m.prior));
  const feeds = Object.fromEntries([...g.params.keys()].map((k) => [k, nd(m.priorParams.get(k).shape, 'float32', m.priorParams.get(k).data)]));
  const [out] = evaluateGraph(g, { ...feeds, tokens: nd([1, tokens.length], 'int64', tokens) }, [logits]);
  const k = m.prior.codebookSize;
  return Array.from({ length: out.shape[1] }, (_, i) => Array.from(out.data.subarray(i * k, (i + 1) * k)));
}

/** −log softmax(logits)[target]. */
function crossEntropy(logits: number[], target: number): number {
  const top = Math.max(...logits);
  return top + Math.log(logits.reduce((a, v) => a + Math.exp(v - top), 0)) - logits[target];
}

/**
 * The validation ELBO by its definition (docs/method.md §2): the bound Σ_t E[CE_t / t] in bits per
 * token, each of the |times| times standing for T/|times| of the sum, averaged over the grids, on the masks
 * validationElbo draws from `seed` (grid by grid, time by time).
 */
function elboByDefinition(m: UnmaskModel, codes: Int32Array, times: number[], seed: number): number {
  const n = m.prior.latent ** 2;
  const count = codes.length / n;
  const rng = new Rng(seed);
  const xt = new BigInt64Array(n);
  const masked = new Float32Array(n);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const x0 = Array.from(codes.subarray(i * n, (i + 1) * n));
    for (const t of times) {
      maskSample(x0.map(BigInt), t, n, m.prior.codebookSize, 'random', rng, xt, masked);
      const logits = logitsOf(m, Array.from(xt, Number));
      for (let j = 0; j < n; j++) if (masked[j]) total += crossEntropy(logits[j], x0[j]) / t;
    }
  }
  return ((total / count) * (n / times.length)) / (Math.LN2 * n);
}

/** The autoregressive model's exact NLL in bits per token: −Σ_j log p(x_j | x_<j) over the grids, teacher-forced. */
function nllByDefinition(m: UnmaskModel, codes: Int32Array): number {
  const n = m.prior.latent ** 2;
  const count = codes.length / n;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const x0 = Array.from(codes.subarray(i * n, (i + 1) * n));
    const logits = logitsOf(m, x0.slice(0, n - 1)); // start_tok, then x₀[0..N−2]: position j predicts x₀[j]
    for (let j = 0; j < n; j++) total += crossEntropy(logits[j], x0[j]);
  }
  return total / (count * n * Math.LN2);
}

function options(over: Partial<EvaluateOptions> = {}): EvaluateOptions {
  return {
    reference: images('stripes-val', 40),
    validation: images('stripes-val', 40),
    features,
    steps: [2, 8],
    schedules: ['random', 'confidence'],
    n: 24,
    batch: 10,
    seed: 5,
    elboImages: 4,
    elboTimes: 4,
    gridImages: 16,
    ...over,
  };
}

describe('evaluate', () => {
  it('measures every row and writes the report, plots and grids', async () => {
    const tasks = new Set<string>();
    const result = await evaluate(model, { ...options(), autoregressive: autoregressiveBaseline(ar), onProgress: (p) => tasks.add(p.task) });
    const r = result.report;
    expect(r.rows.map((x) => `${x.schedule}@${x.steps}`)).toEqual(['random@2', 'random@8', 'confidence@2', 'confidence@8', 'raster order@64']);
    for (const row of [...r.rows, r.reconstruction]) {
      expect(Number.isFinite(row.fid) && row.fid >= 0).toBe(true);
      for (const m of [row.precision, row.recall, row.coverage]) expect(m >= 0 && m <= 1).toBe(true);
      expect(row.density).toBeGreaterThanOrEqual(0);
    }
    for (const row of r.rows) expect(row.secondsPerImage).toBeGreaterThan(0);
    expect(r.elbo).toMatchObject({ images: 4, times: 4 });
    // The same codes evaluate() measures: the tokenizer's codes of its fixed sample of 4 validation images.
    const val = sampleOf(options().validation, 4);
    const pixels = new Float32Array(4 * 16 * 16);
    for (let i = 0; i < 4; i++) val.read(i, pixels, i * 256);
    const codes = Int32Array.from(await model.tokenizer.encode(pixels, 4), Number);
    new Golden('evaluate: validation bits per token', OBJECTIVE, 'their definitions in float64')
      .add('ELBO', [r.elbo!.bitsPerToken], [elboByDefinition(model, codes, elboTimes(64, 4), 5)])
      .add('autoregressive NLL', [r.elbo!.autoregressiveBitsPerToken!], [nllByDefinition(ar, codes)])
      .check();
    expect(r.setup.autoregressive).toEqual({ source: join(dir, 'ar'), parameters: ar.priorParams.count() });
    expect(r.setup).toMatchObject({ n: 24, k: 3, temperature: 1, seed: 5, batch: 10, featureDim: 8, tokens: 64, codebookSize: 16 });
    expect([...tasks]).toContain('sample confidence 8 steps');

    const out = join(dir, 'report');
    const files = await writeReport(out, result);
    for (const f of ['report.md', 'report.json', 'fid-vs-steps.png', 'time-vs-steps.png', 'reference.png', 'reconstructions.png', 'samples-random-2.png', 'samples-autoregressive.png']) {
      expect(files).toContain(f);
      expect(existsSync(join(out, f))).toBe(true);
    }
    const plot = await sharp(join(out, 'fid-vs-steps.png')).metadata();
    expect([plot.format, plot.width, plot.height]).toEqual(['png', 860, 400]);
    const grid = await sharp(join(out, 'samples-random-8.png')).metadata();
    expect([grid.width, grid.height]).toEqual([8 * 18 + 2, 2 * 18 + 2]); // 16 images of 16 px, 8 per row, 2 px gaps
    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as EvalReport;
    expect(json.rows).toEqual(r.rows);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('| VQGAN reconstruction (floor) | – |');
    expect(md).toMatch(/\| confidence \| 2 \| \d+\.\d+ \| \d\.\d{3} \| /);
    expect(md).toContain('| autoregressive | 64 |');
    expect(md).toContain('![FID against steps](fid-vs-steps.png)');

    // `unmask export --report` carries the table into the model card, grid links pointing at the report.
    const { code } = await cli('export', '--model', join(dir, 'model'), '--out', join(dir, 'exported'), '--report', out);
    const { code: wrong, err: said } = await cli('export', '--model', join(dir, 'ar'), '--out', join(dir, 'exported-ar'), '--report', out);
    expect(code).toBe(0);
    const card = readFileSync(join(dir, 'exported', 'model-card.md'), 'utf8');
    expect(card).toContain('## Evaluation');
    expect(card).toMatch(/\| confidence \| 8 \| \d+\.\d+ \| .*\[grid\]\(\.\.\/report\/samples-confidence-8\.png\) \|/);
    expect(card).toContain(`Validation ELBO of the prior: ${r.elbo!.bitsPerToken.toFixed(4)} bits per token`);
    expect(wrong).toBe(1);
    expect(said).toMatch(/unmask: .*report\.json evaluates .*model, not .*ar — pass the report made from this run\n/);
    expect(existsSync(join(dir, 'exported-ar'))).toBe(false);

    // ... and records the report's pick as the model's default sampling, which `unmask sample` follows
    // for every flag not given.
    const absorbing = r.rows.filter((x) => x.method === 'absorbing diffusion');
    const bestFid = Math.min(...absorbing.map((x) => x.fid));
    const pick = absorbing.filter((x) => x.fid <= 1.05 * bestFid).sort((a, b) => a.steps - b.steps || a.fid - b.fid)[0];
    const config = JSON.parse(readFileSync(join(dir, 'exported', 'config.json'), 'utf8'));
    expect(config.sampling).toMatchObject({ schedule: pick.schedule, steps: pick.steps, temperature: 1 });
    expect(card).toContain(`Default sampling (\`unmask sample\` and the web app, unless told otherwise): ${pick.schedule} order, ${pick.steps} steps, temperature 1`);
    const png = join(dir, 'recommended.png');
    const followed = await cli('sample', '--model', join(dir, 'exported'), '--n', '1', '--out', png, '--json');
    expect(followed.code).toBe(0);
    expect(JSON.parse(followed.out.trim().split('\n').at(-1)!)).toMatchObject({ steps: pick.steps, schedule: pick.schedule, temperature: 1 });
    const told = await cli('sample', '--model', join(dir, 'exported'), '--n', '1', '--out', png, '--json', '--steps', '3', '--schedule', 'halton', '--temp', '0.5');
    expect(JSON.parse(told.out.trim().split('\n').at(-1)!)).toMatchObject({ steps: 3, schedule: 'halton', temperature: 0.5 });
  });

  it('compares with a fixed sample of the reference split, not its first images', () => {
    // 1,000 images in category order (as the emoji are): 100 of each of 10 classes
    const set = { name: 'ordered', channels: 1, size: 1, count: 1000, read: (i: number, out: Float32Array, at: number) => void (out[at] = i), label: (i: number) => Math.floor(i / 100), classes: [] };
    const a = sampleOf(set, 200);
    const b = sampleOf(set, 200);
    const ids = (s: typeof a) => Array.from({ length: s.count }, (_, i) => { const out = new Float32Array(1); s.read(i, out, 0); return out[0]; });
    expect(ids(a)).toEqual(ids(b));
    expect(new Set(ids(a)).size).toBe(200);
    expect(ids(a).every((v, i, all) => i === 0 || v > all[i - 1])).toBe(true);
    ids(a).forEach((v, i) => expect(a.label!(i)).toBe(Math.floor(v / 100)));
    const perClass = Array.from({ length: 10 }, (_, c) => ids(a).filter((v) => Math.floor(v / 100) === c).length);
    for (const k of perClass) expect(k).toBeGreaterThan(8); // 20 expected; the first 200 would hold two classes
    // interleaved by class (as Fashion-MNIST's split is): every 5th image would hold two classes of ten
    const interleaved = { ...set, label: (i: number) => i % 10 };
    expect(new Set(Array.from({ length: 200 }, (_, i) => sampleOf(interleaved, 200).label!(i))).size).toBe(10);
    expect(sampleOf(set, 1000)).toBe(set);
  });

  it('recommends the fewest steps within 5% of the best FID, from the rows that sample as `unmask sample` does', () => {
    const row = (schedule: string, steps: number, fid: number, guidance: number | null = null) =>
      ({ method: 'absorbing diffusion', schedule, steps, fid, guidance, choiceTemperature: schedule === 'confidence' ? 9 : null }) as EvalRow;
    const report = (rows: EvalRow[]) => ({ setup: { temperature: 0.9, choiceTemperatures: [9], n: 100 }, rows }) as unknown as EvalReport;
    const ar = { ...row('raster order', 64, 1), method: 'autoregressive' };
    expect(recommendedSampling(report([row('random', 64, 20), row('confidence', 8, 20.9), row('confidence', 4, 21.1), ar]), 'r')).toEqual({
      schedule: 'confidence', steps: 8, temperature: 0.9, choiceTemperature: 9, from: 'r: FID 20.90 at n = 100 (best 20.00)',
    });
    expect(recommendedSampling(report([row('random', 64, 20), row('halton', 16, 25)]), 'r')).toMatchObject({ schedule: 'random', steps: 64 });
    expect(recommendedSampling(report([row('halton', 16, 25)]), 'r')).not.toHaveProperty('choiceTemperature');
    // a class-conditional evaluation: the rows with classes drawn from the data (guidance 0), not the null label's
    expect(recommendedSampling(report([row('random', 8, 10), row('halton', 16, 30, 0), row('halton', 8, 40, 0), row('random', 8, 5, 2)]), 'r')).toMatchObject({ schedule: 'halton', steps: 16 });
    expect(recommendedSampling(report([ar]), 'r')).toBeNull();
    // several choice temperatures: the picked row's
    const hot = { ...row('confidence', 8, 19), choiceTemperature: 25 };
    expect(recommendedSampling(report([row('confidence', 8, 20), hot]), 'r')).toMatchObject({ steps: 8, choiceTemperature: 25 });
    // a report written before rows carried their choice temperature has one, in the setup
    const legacy = { setup: { temperature: 1, choiceTemperature: 15, n: 100 }, rows: [{ method: 'absorbing diffusion', schedule: 'confidence', steps: 16, fid: 5, guidance: null }] };
    expect(recommendedSampling(legacy as unknown as EvalReport, 'r')).toMatchObject({ steps: 16, choiceTemperature: 15 });
  });

  it('measures the confidence order at each of several choice temperatures, a series each', async () => {
    const o = options({ steps: [2], schedules: ['confidence', 'random'], elboImages: 0, choiceTemperatures: [0, 30] });
    const { report: r, grids } = await evaluate(model, o);
    expect(r.rows.map((x) => [x.schedule, x.choiceTemperature, x.grid])).toEqual([
      ['confidence', 0, 'samples-confidence-2-ct0.png'],
      ['confidence', 30, 'samples-confidence-2-ct30.png'],
      ['random', null, 'samples-random-2.png'],
    ]);
    expect(r.setup.choiceTemperatures).toEqual([0, 30]);
    expect(Object.keys(grids)).toEqual(expect.arrayContaining(['samples-confidence-2-ct0.png', 'samples-confidence-2-ct30.png']));
    // each row is what an evaluation at that one choice temperature measures
    const [cold, hot] = [await evaluate(model, { ...o, choiceTemperatures: [0] }), await evaluate(model, { ...o, choiceTemperatures: [30] })];
    const strip = ({ secondsPerImage: _, grid: __, ...rest }: EvalRow) => rest;
    expect(strip(r.rows[0])).toEqual(strip(cold.report.rows[0]));
    expect(strip(r.rows[1])).toEqual(strip(hot.report.rows[0]));
    expect(grids['samples-confidence-2-ct30.png'].data).toEqual(hot.grids['samples-confidence-2.png'].data);
    expect(grids['samples-confidence-2-ct0.png'].data).not.toEqual(hot.grids['samples-confidence-2.png'].data);
    const md = reportMarkdown(r);
    expect(md).toContain('| sampler | steps | choice temperature | FID ↓ |');
    expect(md).toMatch(/\| confidence \| 2 \| 30 \| \d+\.\d+ \|/);
    expect(md).toMatch(/\| random \| 2 \| – \| \d+\.\d+ \|/);
    expect(md).toContain('choice temperatures 0, 30, a series each');
    expect(md).toContain('- confidence (choice temperature 30): best FID');
    await expect(evaluate(model, { ...o, choiceTemperatures: [4, 4] })).rejects.toThrow(/choice temperature listed twice/);
    await expect(evaluate(model, { ...o, choiceTemperatures: [] })).rejects.toThrow(/no choice temperature/);
  });

  it('is deterministic in everything but time', async () => {
    const o = options({ steps: [4], schedules: ['random'], elboImages: 0 });
    const [a, b] = [await evaluate(model, o), await evaluate(model, o)];
    const strip = (r: EvalReport) => r.rows.map(({ secondsPerImage: _, ...rest }) => rest);
    expect(strip(b.report)).toEqual(strip(a.report));
    expect(b.report.reconstruction).toEqual(a.report.reconstruction);
    expect(b.grids['samples-random-4.png'].data).toEqual(a.grids['samples-random-4.png'].data);
  });

  it('refuses what cannot be evaluated before sampling, in one line', async () => {
    await expect(evaluate(ar, options())).rejects.toThrow(/is the autoregressive baseline — evaluate an absorbing prior and pass the baseline as --ar/);
    expect(() => autoregressiveBaseline(model)).toThrow(/holds an absorbing prior, not the autoregressive baseline/);
    await expect(evaluate(model, options({ n: 8 }))).rejects.toThrow(/n = 8 samples cannot be evaluated in 8-d features: FID needs more samples than dimensions \(≥ 9/);
    await expect(evaluate(model, options({ reference: images('big-val', 40, 32) }))).rejects.toThrow(/big-val has 32×32 images with 1 channel\(s\) but the model makes 16×16 with 1/);
    await expect(evaluate(model, options({ n: 41 }))).rejects.toThrow(/n = 41 but stripes-val has only 40 images/);
    await expect(evaluate(model, options({ steps: [2, 65] }))).rejects.toThrow(/steps must be whole numbers from 1 to 64/);
    await expect(evaluate(model, options({ n: 10, k: 10, features: { ...features, dim: 4, name: 'x', features: features.features.bind(features), release: async () => {} } }))).rejects.toThrow(/too few for PRDC with k = 10/);
  });
});
