// `unmask export`: an inference-only copy of a trained model (EMA weights, float16 by default).
import type { Command } from 'commander';
import { exportModel } from '../tasks/train-prior.ts';

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write an inference-only model directory (EMA weights and tokenizer, float16) from a prior run')
    .requiredOption('--model <run>', 'a run directory of unmask train prior')
    .requiredOption('--out <dir>', 'the model directory to write')
    .option('--fp32', 'keep float32 weights (twice the size)')
    .action((o: { model: string; out: string; fp32?: boolean }) => {
      const { bytes } = exportModel(o.model, o.out, !o.fp32);
      process.stderr.write(`wrote ${o.out}: ${(bytes / 1e6).toFixed(1)} MB of weights\n`);
    });
}
