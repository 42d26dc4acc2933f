// `unmask train vqgan` and `unmask train prior`: parse options, pick the data and config, run the
// library's training loop with progress, and stop cleanly (with a checkpoint) on Ctrl-C.
import { type Command, Option } from 'commander';
import { readJsonFile } from '../engine/fs-errors.ts';
import { checkRunFolder } from '../engine/outputs.ts';
import { UnmaskError } from '../errors.ts';
import { join, resolve } from 'node:path';
import { loadTokenizer } from '../inference/model-dir.ts';
import { type DataName, dataCredit, loadImageData } from './data.ts';
import { type Progress, createProgress } from './progress.ts';
import { PRIOR_PRESETS } from '../models/prior-config.ts';
import { TIME_SAMPLINGS } from '../diffusion/absorbing.ts';
import { classFrequencies } from '../data/image-set.ts';
import { VQGAN_PRESETS, parseVqganConfig } from '../models/vqgan-config.ts';
import { runPriorTraining } from '../training/run-prior.ts';
import { runVqganTraining } from '../training/run-vqgan.ts';
import { Interrupted, stopOnInterrupt } from './interrupt.ts';
import { fraction, int, positiveNumber } from './parse.ts';

function readSettings(file: string): Record<string, unknown> {
  const parsed = readJsonFile(file, 'a config file (JSON)', 'fix the file');
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UnmaskError(`${file}: not a JSON object of settings`, 'write it like {"nf": 64, "codebookSize": 256}');
  return parsed as Record<string, unknown>;
}

export function registerTrain(program: Command): void {
  const train = program.command('train').description('train a VQGAN tokenizer or an absorbing-diffusion prior');

  train
    .command('vqgan')
    .description('train the VQGAN tokenizer on images')
    .requiredOption('--data <name|dir>', 'fashion, emoji, emoji64, or a folder of PNG/JPEG images')
    .requiredOption('--out <run>', 'run directory (checkpoints, model card, reconstructions.png)')
    .option('--config <file>', 'JSON with VQGAN settings overriding the preset for the data')
    .option('--steps <n>', 'train until this many steps in total', int('--steps', 1), 20000)
    .option('--batch <b>', 'batch size', int('--batch', 1))
    .option('--seed <s>', 'random seed', int('--seed', 0), 0)
    .option('--resume', 'continue the run in --out')
    .option('--checkpoint-every <n>', 'steps between checkpoints (with validation)', int('--checkpoint-every', 1), 500)
    .option('--no-flip', 'no random left–right flips')
    .option('--json', 'JSON lines instead of a progress bar')
    .action(async (o, cmd: Command) => {
      checkRunFolder(o.out, '--out', !!o.resume);
      if (o.resume) refuseOnResume(cmd, ['seed']);
      const overrides = o.config ? readSettings(o.config) : {};
      const data = await loadImageData(o.data as DataName);
      const preset = VQGAN_PRESETS[data.preset] ?? {};
      // A feature network's path is kept absolute, so that --resume works from any directory.
      if (typeof overrides.perceptual === 'string' && overrides.perceptual.toLowerCase().endsWith('.onnx')) overrides.perceptual = resolve(overrides.perceptual);
      const input = data.train.preparation ?? { fit: 'cover', background: 1 };
      const config = parseVqganConfig({ ...preset, channels: data.train.channels, imageSize: data.train.size, input, ...overrides, ...(o.batch ? { batch: o.batch } : {}) });
      const stop = stopOnInterrupt();
      let progress: Progress | undefined;
      try {
        await runVqganTraining({
          out: o.out,
          config,
          overrides: { ...overrides, ...(o.batch ? { batch: o.batch } : {}) },
          train: data.train,
          val: data.val,
          steps: o.steps,
          seed: o.seed,
          resume: !!o.resume,
          checkpointEvery: o.checkpointEvery,
          flip: o.flip,
          valImages: 512,
          command: `unmask ${process.argv.slice(2).join(' ')}`,
          dataCredit: dataCredit(data.preset),
          stop,
          onStart: (s) => {
            progress = createProgress({ task: 'train vqgan', total: o.steps, json: o.json, initial: s.step });
          },
          onStep: (i) =>
            progress?.update(i.step, {
              rec: i.rec,
              cb: i.codebook,
              ...(i.perceptual !== undefined ? { perc: i.perceptual } : {}),
              ...(i.gan !== undefined ? { gan: i.gan, d: i.discLoss ?? 0 } : {}),
              ppl: i.perplexity,
              'img/s': i.imagesPerSecond,
            }),
          onCheckpoint: (e) => {
            const line = `checkpoint step ${e.step}: val PSNR ${e.psnr.toFixed(2)} dB, ${(100 * e.codesUsed).toFixed(1)}% codes used, perplexity ${e.perplexity.toFixed(1)} → ${e.dir}`;
            if (o.json) process.stdout.write(`${JSON.stringify({ event: 'checkpoint', ...e })}\n`);
            else process.stderr.write(`\n${line}\n`);
          },
        });
      } finally {
        progress?.stop();
        stop.dispose();
      }
      if (stop.requested) throw new Interrupted(o.out);
    });

  train
    .command('prior')
    .description('train the absorbing-diffusion prior on a tokenizer\'s codes')
    .option('--vqgan <run>', 'the tokenizer: a run of unmask train vqgan, or a model (embedded name or directory) whose tokenizer to reuse (not needed with --resume)')
    .requiredOption('--data <name|dir>', 'the images the tokenizer was trained on: fashion, emoji, emoji64, or a folder')
    .requiredOption('--out <run>', 'run directory (checkpoints holding a complete model, samples.png, model card)')
    .option('--init <model>', 'fine-tune: start from this model\'s prior (embedded name, model directory or run) and its recipe, keeping its architecture, classes and tokenizer; a fresh optimizer and step count')
    .option('--preset <name>', `prior size preset (${Object.keys(PRIOR_PRESETS).join(', ')})`, 'small')
    .option('--layers <n>', 'transformer layers', int('--layers', 1))
    .option('--dim <d>', 'width', int('--dim', 8))
    .option('--heads <h>', 'attention heads', int('--heads', 1))
    .option('--causal', 'train the autoregressive baseline (the causal twin, next-token loss) instead of the absorbing prior')
    .addOption(new Option('--loss <type>', 'training objective').choices(['elbo', 'reweighted_elbo', 'mlm']))
    .addOption(new Option('--time-sampling <mode>', 'mask-ratio schedule: uniform t, MaskGIT\'s cosine, high (density 3r²), higher (5r⁴), importance').choices(TIME_SAMPLINGS))
    .option('--lr <rate>', 'learning rate', positiveNumber('--lr'))
    .option('--warmup <n>', 'linear warm-up steps', int('--warmup', 0))
    .addOption(new Option('--lr-schedule <kind>', 'constant after warm-up, or a cosine decay to lr/10 at --steps').choices(['constant', 'cosine']))
    .option('--ema <decay>', 'EMA decay of the sampling weights', fraction('--ema'))
    .option('--dropout <p>', 'dropout on embeddings and residual branches while training', fraction('--dropout', 0.9))
    .option('--flip', 'also train on left–right mirrored images (not for data that faces one way: Fashion-MNIST\'s shoes all point left)')
    .option('--labels', 'class-conditional: a label token from the data\'s classes (fashion, emoji), with a null label for classifier-free guidance')
    .option('--label-dropout <p>', 'share of training grids given the null label (with --labels)', fraction('--label-dropout'))
    .option('--steps <n>', 'train until this many steps in total', int('--steps', 1), 20000)
    .option('--batch <b>', 'batch size', int('--batch', 1))
    .option('--seed <s>', 'random seed', int('--seed', 0), 0)
    .option('--resume', 'continue the run in --out')
    .option('--checkpoint-every <n>', 'steps between checkpoints (with validation ELBO and samples)', int('--checkpoint-every', 1), 1000)
    .option('--json', 'JSON lines instead of a progress bar')
    .action(async (o, cmd: Command) => {
      const preset = PRIOR_PRESETS[o.preset];
      if (!preset) throw new UnmaskError(`unknown prior preset '${o.preset}'`, `use one of ${Object.keys(PRIOR_PRESETS).join(', ')}`);
      checkRunFolder(o.out, '--out', !!o.resume);
      // A resumed run keeps its tokenizer, seed and architecture; explicit settings are checked against it.
      if (o.resume) refuseOnResume(cmd, ['vqgan', 'preset', 'seed', 'init']);
      if (o.init && cmd.getOptionValueSource('preset') === 'cli') throw new UnmaskError('--preset and --init both set the prior\'s size', 'drop --preset: a fine-tuned prior keeps the size of the model it starts from');
      // A folder of images is read at the tokenizer's size and channels (a run's own, when resuming).
      const tokenizerSource: string | undefined = o.resume ? o.out : (o.vqgan ?? o.init);
      const tokenizer = tokenizerSource ? loadTokenizer(tokenizerSource).config : undefined;
      const data = await loadImageData(o.data as DataName, tokenizer && { size: tokenizer.imageSize, channels: tokenizer.channels as 1 | 3 });
      const explicit = {
        ...(o.layers ? { layers: o.layers } : {}),
        ...(o.dim ? { dim: o.dim } : {}),
        ...(o.heads ? { heads: o.heads } : {}),
        ...(o.causal ? { causal: true } : {}),
        ...(o.loss ? { loss: o.loss } : {}),
        ...(o.timeSampling ? { timeSampling: o.timeSampling } : {}),
        ...(o.lr ? { lr: o.lr } : {}),
        ...(o.batch ? { batch: o.batch } : {}),
        ...(o.warmup !== undefined ? { warmup: o.warmup } : {}),
        ...(o.lrSchedule === 'cosine' ? { lrDecaySteps: o.steps } : {}),
        ...(o.ema !== undefined ? { emaDecay: o.ema } : {}),
        ...(o.dropout !== undefined ? { dropout: o.dropout } : {}),
        ...(o.flip ? { flip: true } : {}),
        ...(o.labels ? { classes: [...(data.train.classes ?? [])] } : {}),
        ...(o.labelDropout !== undefined ? { labelDropout: o.labelDropout } : {}),
      };
      if (o.labels && !data.train.classes) throw new UnmaskError(`--labels needs labelled data (fashion, emoji), and ${data.train.name} has no classes`, 'drop --labels');
      // recorded, not an override: a run that predates it resumes without it
      const config = { ...preset, ...explicit, ...(o.labels ? { classFrequencies: classFrequencies(data.train) } : {}) };
      const stop = stopOnInterrupt();
      // Made at the first report: its total counts every set encoded (the mirrored images too, with --flip).
      let progress: Progress | undefined;
      try {
        await runPriorTraining({
          out: o.out,
          vqgan: o.vqgan,
          init: o.init,
          config,
          overrides: explicit,
          train: data.train,
          val: data.val,
          steps: o.steps,
          seed: o.seed,
          resume: !!o.resume,
          checkpointEvery: o.checkpointEvery,
          valLatents: 256,
          elboTimes: 16,
          sampleSteps: 32,
          cacheDir: join(process.cwd(), '.cache'),
          command: `unmask ${process.argv.slice(2).join(' ')}`,
          dataCredit: dataCredit(data.preset),
          stop,
          onEncode: (done, total) => {
            progress ??= createProgress({ task: 'encode data', total, json: o.json });
            progress.update(done);
          },
          onStart: (s) => {
            progress?.stop();
            progress = createProgress({ task: 'train prior', total: o.steps, json: o.json, initial: s.step });
          },
          onStep: (i) => progress?.update(i.step, { loss: i.loss, elbo: i.elbo, lr: i.lr, 'samples/s': i.samplesPerSecond }),
          onCheckpoint: (e) => {
            if (o.json) process.stdout.write(`${JSON.stringify({ event: 'checkpoint', ...e })}\n`);
            else process.stderr.write(`\ncheckpoint step ${e.step}: validation ${e.metric} ${e.elbo.toFixed(4)} bits/token → ${e.dir}\n`);
          },
        });
      } finally {
        progress?.stop();
        stop.dispose();
      }
      if (stop.requested) throw new Interrupted(o.out);
    });
}

/** Flags a resumed run cannot honour (it keeps its own seed, tokenizer and preset) are refused, not ignored. */
function refuseOnResume(cmd: Command, names: string[]): void {
  const given = names.filter((n) => cmd.getOptionValueSource(n) === 'cli');
  if (given.length) {
    const flags = given.map((n) => `--${n}`).join(', ');
    throw new UnmaskError(`${flags} cannot change a run that is resumed (it keeps the ones it started with)`, `drop ${flags}, or start a new run in another --out`);
  }
}
