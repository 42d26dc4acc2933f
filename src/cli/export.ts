// `unmask export`: an inference-only copy of a trained model (EMA weights, float16 by default),
// optionally with an `unmask eval` report's figures added to its model card.
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { EvalReport } from '../eval/evaluate.ts';
import { cardEvaluation } from '../eval/report/report.ts';
import { exportModel } from '../training/export.ts';
import { UnmaskError } from '../errors.ts';

/** The evaluation section for a card in `out`, from the report in `dir`, which must be of `run`. */
function reportSection(dir: string, run: string, out: string): string {
  const file = join(dir, 'report.json');
  if (!existsSync(file)) throw new UnmaskError(`${file} not found`, 'pass the --out folder of unmask eval');
  const report = JSON.parse(readFileSync(file, 'utf8')) as Partial<EvalReport>;
  if (!report.setup || !Array.isArray(report.rows)) throw new UnmaskError(`${file} is not an unmask eval report`, 'pass the --out folder of unmask eval');
  if (resolve(report.setup.model) !== resolve(run)) {
    throw new UnmaskError(`${file} evaluates ${report.setup.model}, not ${run}`, 'pass the report made from this run');
  }
  return cardEvaluation(report as EvalReport, relative(out, dir).split('\\').join('/'));
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write an inference-only model directory (EMA weights and tokenizer, float16) from a prior run')
    .requiredOption('--model <run>', 'a run directory of unmask train prior')
    .requiredOption('--out <dir>', 'the model directory to write')
    .option('--fp32', 'keep float32 weights (twice the size)')
    .option('--report <dir>', "add this unmask eval report's figures to the model card")
    .action((o: { model: string; out: string; fp32?: boolean; report?: string }) => {
      const appendix = o.report ? reportSection(o.report, o.model, o.out) : '';
      const { bytes } = exportModel(o.model, o.out, !o.fp32, appendix);
      process.stderr.write(`wrote ${o.out}: ${(bytes / 1e6).toFixed(1)} MB of weights\n`);
    });
}
