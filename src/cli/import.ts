// `unmask import`: the reference implementation's checkpoints → an unmask model directory.
import { type Command, Option } from 'commander';
import { type ImportOptions, REFERENCE_PRESETS, importReference, summarizeKeys, weightBytes } from '../interop/import.ts';
import { int } from './parse.ts';

type ImportFlags = Omit<ImportOptions, 'onProgress'> & { json?: boolean };

export function registerImport(program: Command): void {
  program
    .command('import')
    .description("import checkpoints of the reference PyTorch implementation (the paper's released 256-px models) as an unmask model")
    .requiredOption('--vqgan <file>', 'the reference VQGAN checkpoint, e.g. vqgan_ema_2200000.th')
    .option('--prior <file>', 'the reference absorbing-diffusion checkpoint, e.g. absorbing_ema_2000000.th (without it, only the tokenizer is imported)')
    .requiredOption('--out <dir>', 'the model directory to create')
    .addOption(new Option('--preset <name>', "the released model's settings (heads 8, 256 px), checked against the files").choices(Object.keys(REFERENCE_PRESETS)))
    .option('--heads <n>', "the prior's attention heads (a state dict does not record them)", int('--heads', 1))
    .option('--image-size <px>', "image side in pixels (default: fixed by the prior's token grid)", int('--image-size', 8))
    .option('--fp16', 'store float16 weights (half the size, rounded) instead of float32')
    .option('--json', 'print a JSON summary')
    .action(async (o: ImportFlags) => {
      const r = await importReference({ ...o, onProgress: (line) => !o.json && process.stderr.write(`${line}\n`) });
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ ...r, weightBytes: weightBytes(r.out) })}\n`);
        return;
      }
      const unused = [...r.files.vqgan.unused, ...(r.files.prior?.unused ?? [])];
      process.stderr.write(
        `wrote ${r.out}: ${r.prior ? 'a complete model' : 'a tokenizer'} (${r.tokenizer.imageSize} px, ${r.tokenizer.codebookSize} codes${r.prior ? `, ${r.prior.layers}-layer prior` : ''}), ` +
          `${(weightBytes(r.out) / 1e6).toFixed(1)} MB of ${o.fp16 ? 'float16' : 'float32'} weights${r.logSigma ? ', with the likelihood head' : ''}\n` +
          `not imported (unused by unmask): ${unused.length ? `${unused.length} tensors — ${summarizeKeys(unused)}` : 'nothing'}\n`,
      );
    });
}
