// `unmask eval` (quality and time against sampling steps, written as a report) and `unmask train
// features` (the feature network the metrics are measured in): thin shells over src/eval/evaluate.ts
// and src/eval/train-features.ts.
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { join } from 'node:path';
import { SAMPLERS, type SamplerName } from '../diffusion/samplers.ts';
import { findCheckpoint } from '../engine/checkpoint.ts';
import { PRECISIONS, type Precision } from '../engine/quantize.ts';
import { checkOutputFolder, checkRunFolder } from '../engine/outputs.ts';
import type { FeatureExtractor } from '../eval/features.ts';
import { parseFeatureNetConfig } from '../eval/feature-net.ts';
import { FEATURE_STEPS, runFeatureTraining } from '../eval/train-features.ts';
import { autoregressiveBaseline, evaluate, openFeatureExtractor } from '../eval/evaluate.ts';
import { resultsTable, writeReport } from '../eval/report/report.ts';
import { committedFeatures, loadModel, resolveModel } from '../inference/model-dir.ts';
import { type DataName, type ImageData, dataCredit, loadImageData } from './data.ts';
import { stopOnInterrupt } from './interrupt.ts';
import { int, intList, numberList, positiveNumber } from './parse.ts';
import { type Progress, createProgress } from './progress.ts';

/** "random,confidence" → checked sampler names. */
function scheduleList(v: string): SamplerName[] {
  return v.split(',').map((s) => {
    const name = s.trim();
    if (!(name in SAMPLERS)) throw new InvalidArgumentError(`--schedule takes ${Object.keys(SAMPLERS).join(', ')} (comma-separated), got '${name}'.`);
    return name as SamplerName;
  });
}

interface FeatureFlags {
  data: DataName;
  out: string;
  steps: number;
  seed: number;
  batch?: number;
  json?: boolean;
}

async function trainFeatures(flags: FeatureFlags, data: ImageData): Promise<FeatureExtractor> {
  const config = parseFeatureNetConfig({ channels: data.train.channels, imageSize: data.train.size, ...(flags.batch ? { batch: flags.batch } : {}) });
  const stop = stopOnInterrupt('stopping after this step; the net is validated and saved');
  const progress = createProgress({ task: 'train features', total: flags.steps, json: flags.json });
  try {
    const { net, info } = await runFeatureTraining({
      out: flags.out,
      config,
      train: data.train,
      val: data.val,
      steps: flags.steps,
      seed: flags.seed,
      stop,
      command: `unmask ${process.argv.slice(2).join(' ')}`,
      dataCredit: dataCredit(data.preset),
      onStep: (i) => progress.update(i.step, { loss: i.loss, lr: i.lr, 'img/s': i.imagesPerSecond }),
    });
    progress.stop();
    const line = `feature net: validation accuracy ${(100 * info.valAccuracy).toFixed(2)}% on ${info.valImages} images after ${info.step} steps (${info.seconds.toFixed(0)} s) → ${flags.out}`;
    if (flags.json) process.stdout.write(`${JSON.stringify({ event: 'features', out: flags.out, ...info })}\n`);
    else process.stderr.write(`${line}\n`);
    return net;
  } finally {
    progress.stop();
    stop.dispose();
  }
}

interface EvalFlags {
  model: string;
  data: DataName;
  steps: number[];
  schedule: SamplerName[];
  n: number;
  out: string;
  features?: string;
  ar?: string;
  temp: number;
  choiceTemp?: number[];
  guidance?: number[];
  seed: number;
  batch: number;
  precision: Precision;
  k: number;
  reference: 'val' | 'train';
  elboImages: number;
  json?: boolean;
}

export function registerEval(program: Command): void {
  const train = program.commands.find((c) => c.name() === 'train') ?? program.command('train').description('train models');
  train
    .command('features')
    .description('train the feature network for FID and PRDC on a data set\'s labels')
    .requiredOption('--data <name>', 'fashion or emoji (labelled data)')
    .requiredOption('--out <run>', 'run directory for the checkpoint (config, weights, features.onnx, model card)')
    .option('--steps <n>', 'training steps', int('--steps', 1), FEATURE_STEPS)
    .option('--batch <b>', 'batch size (default 64)', int('--batch', 1))
    .option('--seed <s>', 'random seed', int('--seed', 0), 0)
    .option('--json', 'JSON lines instead of a progress bar')
    .action(async (flags: FeatureFlags) => {
      checkRunFolder(flags.out, '--out', false, false);
      const data = await loadImageData(flags.data);
      const net = await trainFeatures(flags, data);
      await net.release();
    });

  program
    .command('eval')
    .description('FID, precision/recall/density/coverage and time per image against sampling steps, as a report')
    .requiredOption('--model <name|dir>', 'the model: a run of unmask train prior, or an embedded model')
    .requiredOption('--data <name|dir>', 'the data it was trained on: fashion, emoji, or a folder')
    .requiredOption('--out <dir>', 'report directory (report.md, report.json, plots, sample grids)')
    .option('--steps <list>', 'sampling steps to measure, comma-separated', intList('--steps', 1), [4, 8, 16, 32, 64])
    .option('--schedule <list>', `unmasking orders, comma-separated (${Object.keys(SAMPLERS).join(', ')})`, scheduleList, ['random', 'confidence'] as SamplerName[])
    .option('--n <count>', 'samples per row, and real images they are compared with', int('--n', 2), 2000)
    .option('--features <run|file.onnx>', 'feature network: a run of unmask train features, or an ONNX file [B,C,H,W] → [B,D] (default: the committed one for fashion and emoji, models/features/<data>.onnx; else train one into OUT/features)')
    .option('--ar <run>', 'also measure the autoregressive baseline in this run')
    .option('--temp <t>', 'sampling temperature', positiveNumber('--temp'), 1)
    .option('--choice-temp <list>', 'the confidence order\'s choice temperatures, comma-separated, a series of rows each (default 4.5, MaskGIT\'s)', numberList('--choice-temp'))
    .option('--guidance <list>', 'class-conditional models: guidance weights to measure, comma-separated (each sample takes a real image\'s class)', numberList('--guidance'))
    .option('--seed <s>', 'random seed (batch b uses seed + b)', int('--seed', 0), 0)
    .option('--batch <b>', 'images generated per call', int('--batch', 1), 64)
    .addOption(new Option('--precision <p>', "the prior's linear layers: fp32 or int8").choices([...PRECISIONS]).default('fp32'))
    .option('--k <k>', 'neighbours for precision/recall/density/coverage', int('--k', 1), 3)
    .addOption(new Option('--reference <split>', 'real images to compare with').choices(['val', 'train']).default('val'))
    .option('--elbo-images <n>', 'validation images for the ELBO (0 skips it)', int('--elbo-images', 0), 256)
    .option('--json', 'print report.json to stdout and JSON progress lines')
    .action(async (flags: EvalFlags) => {
      checkOutputFolder(flags.out, '--out');
      const model = loadModel(resolveModel(flags.model));
      // A folder is read at the model's size (256 px for the paper's models), like the built-in sets at theirs.
      const data = await loadImageData(flags.data, { size: model.tokenizer.config.imageSize, channels: model.tokenizer.config.channels as 1 | 3 });
      const ar = flags.ar ? loadModel(resolveModel(flags.ar)) : null;
      // Checked before minutes of feature training, not after.
      if (ar) autoregressiveBaseline(ar);
      const featuresRun = join(flags.out, 'features');
      let features: FeatureExtractor;
      const committed = committedFeatures(flags.data);
      if (flags.features) features = await openFeatureExtractor(flags.features, data.train.channels, data.train.size);
      else if (committed) features = await openFeatureExtractor(committed, data.train.channels, data.train.size);
      else if (findCheckpoint(featuresRun)) features = await openFeatureExtractor(featuresRun, data.train.channels, data.train.size);
      else {
        process.stderr.write(`no --features given: training a feature net on ${data.train.name} into ${featuresRun} (${FEATURE_STEPS} steps, a few minutes)\n`);
        features = await trainFeatures({ data: flags.data, out: featuresRun, steps: FEATURE_STEPS, seed: flags.seed, json: flags.json }, data);
      }
      const bar: { task: string; progress: Progress | null } = { task: '', progress: null };
      try {
        const result = await evaluate(model, {
          reference: flags.reference === 'train' ? data.train : data.val,
          validation: data.val,
          features,
          steps: flags.steps,
          schedules: flags.schedule,
          n: flags.n,
          temperature: flags.temp,
          choiceTemperatures: flags.choiceTemp,
          guidance: flags.guidance,
          seed: flags.seed,
          batch: flags.batch,
          precision: flags.precision,
          k: flags.k,
          elboImages: flags.elboImages,
          autoregressive: ar ? autoregressiveBaseline(ar) : undefined,
          onProgress: (p) => {
            if (p.task !== bar.task || !bar.progress) {
              bar.progress?.stop();
              bar.progress = createProgress({ task: p.task, total: p.total, json: flags.json });
              bar.task = p.task;
            }
            bar.progress.update(p.done);
          },
        });
        bar.progress?.stop();
        await writeReport(flags.out, result);
        if (flags.json) process.stdout.write(`${JSON.stringify(result.report)}\n`);
        else process.stdout.write(`${resultsTable(result.report)}\n\nreport written to ${join(flags.out, 'report.md')}\n`);
      } finally {
        bar.progress?.stop();
        await Promise.all([model.release(), ar?.release(), features.release()]);
      }
    });
}
