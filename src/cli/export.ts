// `unmask export`: an inference-only copy of a trained model (EMA weights, float16 by default),
// optionally with an `unmask eval` report's figures added to its model card.
import { type Command, Option } from 'commander';
import { readJsonFile } from '../engine/fs-errors.ts';
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { exportReference } from '../interop/export.ts';
import type { EvalReport } from '../eval/evaluate.ts';
import { LEVEL_FID, cardEvaluation, recommendedSampling } from '../eval/report/report.ts';
import type { SamplingDefaults } from '../models/prior-config.ts';
import { checkExportFolder, checkOutputFolder } from '../engine/outputs.ts';
import { exportModel } from '../training/export.ts';
import { UnmaskError } from '../errors.ts';

/** The evaluation section for a card in `out`, and the sampling it recommends, from the report in `dir`, which must be of `run`. */
function fromReport(dir: string, run: string, out: string): { section: string; sampling: SamplingDefaults | null } {
  const file = join(dir, 'report.json');
  if (!existsSync(file)) throw new UnmaskError(`${file} not found`, 'pass the --out folder of unmask eval');
  const report = readJsonFile(file, 'an eval report', 'pass the --out folder of unmask eval') as Partial<EvalReport>;
  if (!report.setup || !Array.isArray(report.rows)) throw new UnmaskError(`${file} is not an unmask eval report`, 'pass the --out folder of unmask eval');
  if (resolve(report.setup.model) !== resolve(run)) {
    throw new UnmaskError(`${file} evaluates ${report.setup.model}, not ${run}`, 'pass the report made from this run');
  }
  const where = relative(out, dir).split('\\').join('/');
  const sampling = recommendedSampling(report as EvalReport, dir);
  const recommends = sampling ? `\nDefault sampling (\`unmask sample\` and the web app, unless told otherwise): ${sampling.schedule} order, ${sampling.steps} steps, temperature ${sampling.temperature}${sampling.choiceTemperature !== undefined ? `, choice temperature ${sampling.choiceTemperature}` : ''}: the fewest steps within ${100 * LEVEL_FID}% of the best FID of this evaluation.\n` : '';
  return { section: cardEvaluation(report as EvalReport, where) + recommends, sampling };
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write an inference-only model directory (EMA weights and tokenizer, float16) from a prior run, or the reference implementation\'s torch files')
    .requiredOption('--model <run>', 'a run directory of unmask train prior (or, with --format reference, any model or VQGAN run)')
    .requiredOption('--out <dir>', 'the model directory to write')
    .addOption(new Option('--format <format>', 'unmask: a model directory; reference: vqgan_ema_<step>.th, absorbing_ema_<step>.th and hparams.json for the reference PyTorch code').choices(['unmask', 'reference']).default('unmask'))
    .option('--fp32', 'keep float32 weights (twice the size)')
    .option('--report <dir>', "add this unmask eval report's figures to the model card, and record its best row as the model's default sampling")
    .option('--force', 'replace an earlier export in --out (never a training run)')
    .action(async (o: { model: string; out: string; format: 'unmask' | 'reference'; fp32?: boolean; report?: string; force?: boolean }) => {
      if (o.format === 'reference') {
        checkOutputFolder(o.out, '--out');
        if (o.fp32 || o.report) throw new UnmaskError('--fp32 and --report apply to --format unmask', 'the reference files are float32 and carry no model card');
        const r = await exportReference(o.model, o.out);
        process.stderr.write(`wrote ${r.files.map((f) => join(o.out, f)).join(', ')} — load them in the reference code with torch.load and load_state_dict\n`);
        return;
      }
      checkExportFolder(o.out, o.model, !!o.force);
      const report = o.report ? fromReport(o.report, o.model, o.out) : null;
      const { bytes } = exportModel(o.model, o.out, !o.fp32, report?.section ?? '', !!o.force, report?.sampling ?? null);
      process.stderr.write(`wrote ${o.out}: ${(bytes / 1e6).toFixed(1)} MB of weights\n`);
    });
}
