// `unmask bench …`: the library's benchmarks, printed as a table of medians (with the ratio to a
// PyTorch run of the same cases when given one) or as JSON lines.
import { existsSync, readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { z } from 'zod';
import { benchDecode } from '../bench/decode.ts';
import { type BenchCase, benchEngine } from '../bench/engine.ts';
import { benchSample, benchSampleAutoregressive } from '../bench/sample.ts';
import { benchVqgan } from '../bench/vqgan.ts';
import { type RunTiming, benchWeb, median } from '../bench/web.ts';
import { SAMPLERS, type SamplerName } from '../diffusion/samplers.ts';
import { PRECISIONS, type Precision } from '../engine/quantize.ts';
import { listModels } from '../inference/model-dir.ts';
import { checkInputFile } from '../engine/fs-errors.ts';
import { checkMemory } from '../engine/limits.ts';
import { decoderCost } from '../inference/budget.ts';
import { VQGAN_256, VQGAN_PRESETS } from '../models/vqgan-config.ts';
import { int } from './parse.ts';
import { servedModels } from './serve.ts';
import { UnmaskError } from '../errors.ts';

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('measure speed: medians of timed runs after warm-up').helpCommand(false);
  bench
    .command('engine')
    .description('engine cases: conv 3×3 64→64 forward+backward, transformer block forward+backward, block forward')
    .option('--json', 'one JSON object per line: {"case", "ms", "runs"}')
    .option('--runs <n>', 'timed runs per case, at least 5 (default 10)', int('--runs', 5))
    .option('--reference <file>', 'JSON lines from bench/pytorch_engine.py, to print the ratio to PyTorch')
    .action(async (opts: { json?: boolean; runs?: number; reference?: string }) => {
      const reference = opts.reference ? readReference(opts.reference) : undefined;
      const table = opts.json ? undefined : new Table(reference);
      if (table) process.stderr.write('building graphs and sessions, then timing each case…\n');
      table?.header();
      await benchEngine({
        runs: opts.runs,
        onResult(r) {
          if (table) return table.row(r);
          const ms = round3(r.ms);
          const ref = reference?.get(r.case);
          const line = ref === undefined ? { ...r, ms } : { ...r, ms, reference_ms: ref, ratio: round3(r.ms / ref) };
          process.stdout.write(JSON.stringify(line) + '\n');
        },
      });
    });

  bench
    .command('sample')
    .description('seconds per image to sample with a prior of this size (random weights), through the real sampler')
    .option('--layers <n>', 'transformer layers', int('--layers', 1), 8)
    .option('--dim <d>', 'width', int('--dim', 8), 256)
    .option('--heads <h>', 'attention heads', int('--heads', 1), 8)
    .option('--tokens <n>', 'tokens per image (a square number)', int('--tokens', 1), 256)
    .option('--codebook <k>', 'codebook size', int('--codebook', 2), 512)
    .option('--batch <b>', 'images sampled together', int('--batch', 1), 16)
    .option('--steps <s>', 'sampling steps', int('--steps', 1), 50)
    .option('--schedule <order>', `${Object.keys(SAMPLERS).join(' or ')}`, 'random')
    .option('--runs <n>', 'timed runs (median)', int('--runs', 1), 3)
    .addOption(new Option('--precision <p>', "the transformer body's linear layers: fp32, or int8 (quantized weights, 8-bit dot products)").choices([...PRECISIONS]).default('fp32'))
    .option('--causal', 'the autoregressive baseline instead: N key/value-cached steps (--steps and --schedule do not apply)')
    .option('--json', 'one JSON object with a seconds_per_image field')
    .action(async (o: { layers: number; dim: number; heads: number; tokens: number; codebook: number; batch: number; steps: number; schedule: string; runs: number; precision: Precision; causal?: boolean; json?: boolean }) => {
      // The batch's logits (three copies on the host) and a chunk's attention maps, in float32.
      const bytes = 4 * (3 * o.batch * o.tokens * (o.codebook + 1) + 2 * 16 * o.heads * o.tokens ** 2 + 12 * o.layers * o.dim ** 2);
      checkMemory(bytes, `bench sample at batch ${o.batch}, ${o.tokens} tokens, codebook ${o.codebook}`, 'use a smaller --batch, --tokens or --codebook');
      if (o.causal) {
        if (!o.json) process.stderr.write('building sessions, then sampling left to right…\n');
        const r = await benchSampleAutoregressive(o);
        const line = { case: 'sample', layers: o.layers, dim: o.dim, heads: o.heads, tokens: o.tokens, codebook: o.codebook, batch: o.batch, steps: o.tokens, schedule: 'autoregressive', ...r };
        if (o.json) process.stdout.write(`${JSON.stringify(line)}\n`);
        else process.stdout.write(`${r.seconds_per_image.toFixed(3)} s per image (${r.seconds_per_batch.toFixed(2)} s per batch of ${o.batch}, ${o.tokens} cached steps of ${r.step_ms.toFixed(1)} ms, autoregressive); one full causal forward pass ${r.forward_ms.toFixed(1)} ms\n`);
        return;
      }
      if (!(o.schedule in SAMPLERS)) throw new UnmaskError(`--schedule must be ${Object.keys(SAMPLERS).join(' or ')}, got '${o.schedule}'`, 'pass one of those');
      if (o.steps > o.tokens) throw new UnmaskError(`--steps must be at most --tokens (${o.tokens}), got ${o.steps}`, `pass --steps ${o.tokens} or fewer`);
      if (!o.json) process.stderr.write('building sessions, then sampling…\n');
      const r = await benchSample({ ...o, sampler: o.schedule as SamplerName });
      const line = { case: 'sample', layers: o.layers, dim: o.dim, heads: o.heads, tokens: o.tokens, codebook: o.codebook, batch: o.batch, steps: o.steps, schedule: o.schedule, precision: o.precision, ...r };
      if (o.json) process.stdout.write(`${JSON.stringify(line)}\n`);
      else process.stdout.write(`${r.seconds_per_image.toFixed(3)} s per image (${r.seconds_per_batch.toFixed(2)} s per batch of ${o.batch}, ${o.steps} steps, ${o.schedule}, ${o.precision}); one full forward pass ${r.forward_ms.toFixed(1)} ms\n`);
    });

  bench
    .command('decode')
    .description("ms per image of the paper's 256×256 VQGAN decoder (codes 16×16 → image; random weights), through the tokenizer every task uses")
    .option('--batch <b>', 'images decoded together', int('--batch', 1, 16), 1)
    .option('--runs <n>', 'timed runs (median)', int('--runs', 1), 5)
    .option('--reference <file>', 'the output of bench/pytorch_decode.py, to print the ratio to PyTorch')
    .option('--json', 'one JSON object: {"case", "batch", "ms", "ms_per_image", "runs"}')
    .action(async (o: { batch: number; runs: number; reference?: string; json?: boolean }) => {
      const ref = o.reference ? readReference(o.reference, 'bench/pytorch_decode.py').get('decode_256') : undefined;
      checkMemory(o.batch * decoderCost(VQGAN_256, 16, 16).bytes, `bench decode at batch ${o.batch}`, 'use a smaller --batch');
      if (!o.json) process.stderr.write('building the decoder session, then timing decodes…\n');
      const r = await benchDecode(o);
      const line = ref === undefined ? { ...r, ms: round3(r.ms) } : { ...r, ms: round3(r.ms), reference_ms: round3(ref), ratio: round3(r.ms / ref) };
      if (o.json) process.stdout.write(`${JSON.stringify(line)}\n`);
      else {
        const vs = ref === undefined ? '' : `; PyTorch ${ref.toFixed(0)} ms, ratio ${(r.ms / ref).toFixed(2)}×`;
        process.stdout.write(`${r.ms_per_image.toFixed(0)} ms per image (batch ${r.batch}, median of ${r.runs})${vs}\n`);
      }
    });

  bench
    .command('vqgan')
    .description('images per second of one VQGAN autoencoder training step (L1 + codebook loss, gradients, Adam) of a small preset')
    .addOption(new Option('--config <preset>', 'small preset (src/models/vqgan-config.ts)').choices(['fashion', 'emoji']).default('fashion'))
    .option('--batch <b>', 'images per step', int('--batch', 1), 16)
    .option('--runs <n>', 'timed steps (median)', int('--runs', 1), 20)
    .option('--reference <file>', 'the output of /usr/bin/python3 bench/pytorch_vqgan.py --bench, to print the ratio to PyTorch')
    .option('--json', 'one JSON object: {"case", "config", "batch", "ms", "images_per_second", "runs"}')
    .action(async (o: { config: 'fashion' | 'emoji'; batch: number; runs: number; reference?: string; json?: boolean }) => {
      const ref = o.reference ? readReference(o.reference, 'bench/pytorch_vqgan.py --bench').get(`vqgan_train_step:${o.config}`) : undefined;
      if (o.reference && ref === undefined) throw new UnmaskError(`${o.reference}: no vqgan_train_step line for config ${o.config}`, `run bench/pytorch_vqgan.py --bench --config ${o.config}`);
      // About 16 full-resolution activations per image kept for the backward pass (as training estimates).
      const preset = VQGAN_PRESETS[o.config];
      checkMemory(4 * o.batch * preset.imageSize! ** 2 * preset.nf! * 16, `bench vqgan at batch ${o.batch}`, 'use a smaller --batch');
      if (!o.json) process.stderr.write('building the training graph and session, then timing steps…\n');
      const r = await benchVqgan({ config: o.config, batch: o.batch, runs: o.runs });
      const line = ref === undefined ? { ...r, ms: round3(r.ms) } : { ...r, ms: round3(r.ms), reference_ms: round3(ref), ratio: round3(r.ms / ref) };
      if (o.json) process.stdout.write(`${JSON.stringify(line)}\n`);
      else {
        const vs = ref === undefined ? '' : `; PyTorch ${ref.toFixed(1)} ms, ratio ${(r.ms / ref).toFixed(2)}×`;
        process.stdout.write(`${r.ms.toFixed(1)} ms per step, ${r.images_per_second.toFixed(0)} images/s (${o.config}, batch ${r.batch}, median of ${r.runs})${vs}\n`);
      }
    });

  bench
    .command('web')
    .description('the browser app in Chromium: time to ready on a first and a second visit, and seconds per generation beside unmask sample')
    .option('--model <name|dir>', 'an embedded model or a model directory', 'emoji')
    .option('--n <count>', 'images per generation', int('--n', 1, 64), 4)
    .option('--steps <s>', 'sampling steps', int('--steps', 1), 16)
    .option('--seed <s>', 'random seed', int('--seed', 0, 2 ** 32 - 1), 1)
    .option('--rounds <n>', 'generations in the page and with unmask sample, alternating (median)', int('--rounds', 1, 50), 3)
    .option('--chromium <path>', 'the Chromium to drive (never downloaded)', '/usr/bin/chromium')
    .option('--webgpu', "offer Chromium's software WebGPU adapter (SwiftShader) and ask the page for WebGPU")
    .addOption(new Option('--precision <p>', "the prior's linear layers, in the page (wasm) and in unmask sample alike").choices(['fp32', 'int8']).default('fp32'))
    .option('--json', 'one JSON object with every timing')
    .action(async (o: { model: string; n: number; steps: number; seed: number; rounds: number; chromium: string; webgpu?: boolean; precision: 'fp32' | 'int8'; json?: boolean }) => {
      const embedded = listModels().some((m) => m.name === o.model);
      const models = servedModels(embedded ? [] : [o.model]);
      const model = embedded ? o.model : models[0].name;
      const r = await benchWeb({
        ...o,
        models,
        model,
        ...(o.webgpu ? { chromiumArgs: ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'], backend: 'webgpu' as const } : {}),
        onProgress: (line) => !o.json && process.stderr.write(`${line}\n`),
      });
      const pageMedian = median(r.page.map((t) => t.wall));
      const cliMedian = median(r.cli);
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ case: 'web', model, n: o.n, steps: o.steps, precision: o.precision, ...r, page_median: pageMedian, cli_median: cliMedian, ratio: round3(pageMedian / cliMedian) })}\n`);
        return;
      }
      const parts = (t: RunTiming) => `in the worker ${t.seconds.toFixed(2)} s: sampling ${(t.sampling / 1000).toFixed(2)} s, ${t.previewCount} preview(s) ${(t.previews / 1000).toFixed(2)} s, final decode ${(t.decode / 1000).toFixed(2)} s`;
      const rows: [string, string, string][] = [
        ['ready, first visit', `${r.cold.seconds.toFixed(1)} s`, r.cold.status],
        ['ready, second visit', `${r.warm.seconds.toFixed(1)} s`, r.warm.status],
        ['generation, page, first run', `${r.pageFirst.wall.toFixed(2)} s`, parts(r.pageFirst)],
        [`generation, page, median of ${o.rounds}`, `${pageMedian.toFixed(2)} s`, `rounds: ${r.page.map((t) => t.wall.toFixed(2)).join(', ')} s`],
        [`generation, unmask sample, median of ${o.rounds}`, `${cliMedian.toFixed(2)} s`, `rounds: ${r.cli.map((s) => s.toFixed(2)).join(', ')} s`],
        ['page / unmask sample', `${(pageMedian / cliMedian).toFixed(2)}×`, `first run ${(r.pageFirst.wall / cliMedian).toFixed(2)}×`],
      ];
      process.stdout.write(`web app: ${model}, ${o.n} images, ${o.steps} steps, seed ${o.seed}, ${o.precision}; ${r.warm.backend}\n`);
      for (const [what, value, note] of rows) process.stdout.write(`${what.padEnd(40)}${value.padStart(9)}  ${note}\n`);
    });
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

const ReferenceLine = z.object({ case: z.string(), ms: z.number().positive(), config: z.string().optional() });

/** Median ms per case (keyed "case:config" for lines naming a config) from a PyTorch script's output. */
function readReference(file: string, script = 'bench/pytorch_engine.py'): Map<string, number> {
  if (!existsSync(file)) throw new UnmaskError(`${file}: no such file`, `write it with /usr/bin/python3 ${script} > ${file}`);
  checkInputFile(file, 'a JSON-lines file');
  const out = new Map<string, number>();
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((text, i) => {
      if (!text.trim()) return;
      let parsed: z.ZodSafeParseResult<z.infer<typeof ReferenceLine>>;
      try {
        parsed = ReferenceLine.safeParse(JSON.parse(text));
      } catch {
        parsed = ReferenceLine.safeParse(undefined);
      }
      if (!parsed.success) throw new UnmaskError(`${file}: line ${i + 1} is not a {"case", "ms"} JSON object`, `give the output of ${script}`);
      out.set(parsed.data.config ? `${parsed.data.case}:${parsed.data.config}` : parsed.data.case, parsed.data.ms);
    });
  if (!out.size) throw new UnmaskError(`${file} holds no results`, `write it with /usr/bin/python3 ${script} > ${file}`);
  return out;
}

class Table {
  constructor(private reference?: Map<string, number>) {}

  header(): void {
    const ref = this.reference ? `${'pytorch ms'.padStart(12)}${'ratio'.padStart(8)}` : '';
    process.stdout.write(`${'case'.padEnd(15)}${'median ms'.padStart(11)}${'runs'.padStart(6)}${ref}\n`);
  }

  row(r: BenchCase): void {
    let line = `${r.case.padEnd(15)}${r.ms.toFixed(1).padStart(11)}${String(r.runs).padStart(6)}`;
    if (this.reference) {
      const ref = this.reference.get(r.case);
      line += ref === undefined ? `${'–'.padStart(12)}${'–'.padStart(8)}` : `${ref.toFixed(1).padStart(12)}${`${(r.ms / ref).toFixed(2)}×`.padStart(8)}`;
    }
    process.stdout.write(line + '\n');
  }
}
