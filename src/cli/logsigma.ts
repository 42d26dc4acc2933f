// `unmask train logsigma`: fits a tokenizer's log σ head, so that `unmask likelihood` reports bits per
// dimension as the paper does (for an imported model whose head was never fitted, or one trained here).
import type { Command } from 'commander';
import { LOG_SIGMA_DEFAULTS, fitLogSigmaInModel } from '../training/train-logsigma.ts';
import { loadTokenizer } from '../inference/model-dir.ts';
import { checkOutputFolder } from '../engine/outputs.ts';
import { type DataName, loadImageData } from './data.ts';
import { int, positiveNumber } from './parse.ts';
import { createProgress } from './progress.ts';

interface LogSigmaFlags {
  model: string;
  data: DataName;
  out: string;
  steps: number;
  batch: number;
  lr: number;
  seed: number;
  valImages: number;
  json?: boolean;
}

export function registerLogSigma(program: Command): void {
  const train = program.commands.find((c) => c.name() === 'train') ?? program.command('train').description('train models');
  train
    .command('logsigma')
    .description("fit the tokenizer's log σ head (decoder frozen), for likelihoods in bits per dimension")
    .requiredOption('--model <name|dir>', 'a model or a tokenizer directory (an imported one, or a run of unmask train vqgan)')
    .requiredOption('--data <name|dir>', 'images like the ones the tokenizer was trained on: fashion, emoji, emoji64, or a folder')
    .requiredOption('--out <dir>', 'the model directory to write, with the fitted head')
    .option('--steps <n>', 'training steps', int('--steps', 1), 1000)
    .option('--batch <b>', 'images per step', int('--batch', 1), LOG_SIGMA_DEFAULTS.batch)
    .option('--lr <rate>', 'Adam learning rate (the reference uses 1e-4)', positiveNumber('--lr'), LOG_SIGMA_DEFAULTS.lr)
    .option('--seed <s>', 'random seed', int('--seed', 0), 0)
    .option('--val-images <n>', 'validation images for the before/after figure', int('--val-images', 1), 64)
    .option('--json', 'JSON lines instead of a progress bar')
    .action(async (o: LogSigmaFlags) => {
      checkOutputFolder(o.out, '--out');
      const tok = loadTokenizer(o.model).config;
      const data = await loadImageData(o.data, { size: tok.imageSize, channels: tok.channels as 1 | 3 });
      const progress = createProgress({ task: 'fit log σ head', total: o.steps, json: o.json });
      try {
        const r = await fitLogSigmaInModel(o.model, o.out, { ...o, train: data.train, val: data.val, dataName: String(o.data), onStep: (s) => progress.update(s.step, { 'bits/dim': s.bitsPerDim }) });
        progress.stop();
        const summary = { out: r.out, before: r.before, after: r.after };
        if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else process.stderr.write(`wrote ${r.out}: validation −log p(x | z) ${r.before.toFixed(4)} → ${r.after.toFixed(4)} bits per dimension\n`);
      } finally {
        progress.stop();
      }
    });
}
