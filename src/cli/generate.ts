// `unmask sample | complete | inpaint | stitch | extend | likelihood | models`: thin shells over the
// library's tasks. Every task writes one PNG grid (inputs and mask first, then the results).
import type { Command } from 'commander';
import { Option } from 'commander';
import { join } from 'node:path';
import { type Images, imageGrid, upscale } from '../data/images.ts';
import { readImage, writeImage } from '../data/png.ts';
import { SAMPLERS, type SamplerName } from '../diffusion/samplers.ts';
import { PRECISIONS, type Precision } from '../engine/quantize.ts';
import { type Box, type KeepRegion, type TaskOptions, type TaskResult, boxMask, complete, decodePartial, extend, generate, inpaint, stitch } from '../inference/tasks.ts';
import { DEFAULT_MODEL, listModels, loadModel } from '../inference/model-dir.ts';
import { UnmaskModel } from '../inference/model.ts';
import { likelihood } from '../inference/likelihood.ts';
import { int, nonNegativeNumber, positiveNumber } from './parse.ts';
import { createProgress } from './progress.ts';
import { UnmaskError } from '../errors.ts';

interface TaskFlags {
  model: string;
  scale: number;
  n: number;
  steps?: number;
  temp: number;
  choiceTemp?: number;
  schedule: SamplerName;
  class?: string;
  guidance?: number;
  seed: number;
  precision: Precision;
  out: string;
  frames?: string;
  json?: boolean;
}

function taskOptions(cmd: Command, defaults: { out: string; n: number }): Command {
  return cmd
    .option('--model <name|dir>', 'an embedded model (see unmask models) or a run directory', DEFAULT_MODEL)
    .option('--n <count>', 'how many results', int('--n', 1, 256), defaults.n)
    .option('--steps <s>', 'sampling steps, 1..tokens (default: min(50, tokens))', int('--steps', 1))
    .option('--temp <t>', 'sampling temperature > 0', positiveNumber('--temp'), 0.9)
    .addOption(new Option('--schedule <order>', 'which tokens to reveal when').choices(Object.keys(SAMPLERS)).default('random'))
    .option('--choice-temp <t>', 'the confidence order\'s choice temperature (MaskGIT: 4.5)', nonNegativeNumber('--choice-temp'))
    .option('--class <name>', 'class-conditional models: the class to make (see the model card, or unmask models)')
    .option('--guidance <w>', 'classifier-free guidance weight with --class (0: the conditional model alone)', nonNegativeNumber('--guidance'))
    .option('--seed <s>', 'random seed', int('--seed', 0), 1)
    .addOption(new Option('--precision <p>', "the prior's linear layers: fp32, or int8 (about 2× faster on CPUs with 8-bit dot products; samples differ slightly)").choices([...PRECISIONS]).default('fp32'))
    .option('--out <file>', 'PNG grid to write', defaults.out)
    .option('--frames <dir>', 'also write the grid after every step, as frame-0001.png …')
    .option('--scale <k>', 'enlarge the written grids k times (nearest neighbour)', int('--scale', 1, 16), 1)
    .option('--json', 'print a JSON summary (and JSON progress lines) instead of text');
}

/** Runs a task with progress, optional per-step frames, and writes the grid (the inputs and mask first). */
async function runTask(
  flags: TaskFlags,
  model: UnmaskModel,
  run: (o: TaskOptions) => Promise<TaskResult>,
  inputs: Images[] = [],
  grid?: [number, number],
): Promise<void> {
  const [h, w] = grid ?? [model.prior.latent, model.prior.latent];
  // The autoregressive baseline always takes one step per token.
  const steps = model.prior.causal ? h * w : (flags.steps ?? Math.min(50, h * w));
  const schedule = model.prior.causal ? 'autoregressive' : flags.schedule;
  const frames: Int32Array[] = [];
  const progress = createProgress({ task: 'sampling', total: steps, json: flags.json });
  const t0 = performance.now();
  let result: TaskResult;
  try {
    result = await run({
      n: flags.n,
      steps,
      temperature: flags.temp,
      choiceTemperature: flags.choiceTemp,
      sampler: flags.schedule,
      label: flags.class,
      guidance: flags.guidance,
      seed: flags.seed,
      precision: flags.precision,
      onStep: ({ step, tokens }) => {
        progress.update(step);
        if (flags.frames) frames.push(tokens.slice());
      },
    });
  } finally {
    progress.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  const im = result.images;
  // Inputs and the mask lead the first row when they have the results' size (not for extend's canvas).
  const lead = inputs.length && inputs[0].width === im.width && inputs[0].height === im.height
    ? [...inputs, maskImage(model, result.known, result.grid, im.channels)]
    : [];
  await writeImage(flags.out, upscale(imageGrid([...lead, im], { cols: gridColumns(lead.length, flags.n) }), flags.scale));
  if (flags.frames) await writeFrames(flags.frames, model, frames, result, lead, flags.scale);
  const summary = { out: flags.out, n: flags.n, steps, schedule, temperature: flags.temp, ...(flags.class ? { class: flags.class, guidance: flags.guidance ?? 0 } : {}), seed: flags.seed, precision: flags.precision, seconds, seconds_per_image: seconds / flags.n };
  if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else process.stderr.write(`wrote ${flags.out}: ${flags.n} image(s), ${steps} steps (${schedule}), ${seconds.toFixed(2)} s (${(seconds / flags.n).toFixed(3)} s per image)\n`);
}

/** Inputs and mask, then the results, on one row; results alone eight to a row. */
function gridColumns(lead: number, n: number): number {
  return lead ? lead + n : Math.min(n, 8);
}

/** Decodes every step's grids; still-masked tokens are painted mid-grey. */
async function writeFrames(dir: string, model: UnmaskModel, frames: Int32Array[], result: TaskResult, lead: Images[], scale: number): Promise<void> {
  const [h, w] = result.grid;
  const n = result.images.n;
  for (let s = 0; s < frames.length; s++) {
    const im = await decodePartial(model, frames[s], n, h, w);
    await writeImage(join(dir, `frame-${String(s + 1).padStart(4, '0')}.png`), upscale(imageGrid([...lead, im], { cols: gridColumns(lead.length, n) }), scale));
  }
}

/** Reads an image at the model's size (scaled to cover, centre-cropped). */
async function readModelImage(model: UnmaskModel, file: string): Promise<Images> {
  const c = model.tokenizer.config;
  return readImage(file, { channels: c.channels as 1 | 3, size: { width: c.imageSize, height: c.imageSize }, fit: 'cover' });
}

/** The token mask (white = generated) drawn at pixel scale with the image's channel count. */
function maskImage(model: UnmaskModel, known: Uint8Array, grid: [number, number], channels: number): Images {
  const f = model.tokenizer.pixelsPerToken;
  const [h, w] = grid;
  const width = w * f, height = h * f;
  const data = new Float32Array(channels * width * height);
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) data[(c * height + y) * width + x] = known[Math.floor(y / f) * w + Math.floor(x / f)] ? 0 : 1;
  return { n: 1, channels, height, width, data };
}

function parseBox(v: string, flag: string): Box {
  const parts = v.split(',').map(Number);
  if (parts.length !== 4 || !parts.every(Number.isInteger)) throw new UnmaskError(`${flag} must be x,y,w,h in whole pixels, got '${v}'`, `pass four whole numbers, e.g. ${flag} 4,4,16,8`);
  const [x, y, w, h] = parts;
  return { x, y, w, h };
}

export function registerGenerate(program: Command): void {
  taskOptions(program.command('sample').description('generate images from scratch'), { out: 'samples.png', n: 16 }).action(async (flags: TaskFlags) => {
    const model = loadModel(flags.model);
    await runTask(flags, model, (o) => generate(model, o));
    await model.release();
  });

  taskOptions(program.command('complete').description('keep part of an image and generate the rest (any direction)'), { out: 'complete.png', n: 4 })
    .requiredOption('--in <image>', 'the image (scaled and centre-cropped to the model size)')
    .option('--keep <region>', 'top, bottom, left, right, or box:x,y,w,h (pixels)', 'top')
    .action(async (flags: TaskFlags & { in: string; keep: string }) => {
      const model = loadModel(flags.model);
      const img = await readModelImage(model, flags.in);
      const keep: KeepRegion = flags.keep.startsWith('box:')
        ? { box: parseBox(flags.keep.slice(4), '--keep box') }
        : (['top', 'bottom', 'left', 'right'].includes(flags.keep) ? flags.keep : (() => { throw new UnmaskError(`--keep must be top, bottom, left, right or box:x,y,w,h, got '${flags.keep}'`, 'pass one of those'); })()) as KeepRegion;
      await runTask(flags, model, (o) => complete(model, img, keep, o), [img]);
      await model.release();
    });

  taskOptions(program.command('inpaint').description('regenerate a region of an image (white in the mask)'), { out: 'inpaint.png', n: 4 })
    .requiredOption('--in <image>', 'the image (scaled and centre-cropped to the model size)')
    .option('--mask <png>', 'mask image of the same size: white is regenerated')
    .option('--box <x,y,w,h>', 'regenerate this box (pixels) instead of a mask image')
    .action(async (flags: TaskFlags & { in: string; mask?: string; box?: string }) => {
      if (!flags.mask === !flags.box) throw new UnmaskError('give exactly one of --mask FILE or --box x,y,w,h', 'the region to regenerate');
      const model = loadModel(flags.model);
      const img = await readModelImage(model, flags.in);
      let mask: Float32Array;
      if (flags.box) mask = boxMask(parseBox(flags.box, '--box'), img.width, img.height);
      else {
        const m = await readImage(flags.mask!, { channels: 1 });
        if (m.width !== img.width || m.height !== img.height) {
          throw new UnmaskError(`${flags.mask}: the mask is ${m.width}×${m.height} but the image is ${img.width}×${img.height}`, `give a mask of the image's size`);
        }
        mask = m.data;
      }
      await runTask(flags, model, (o) => inpaint(model, img, mask, o), [img]);
      await model.release();
    });

  taskOptions(program.command('stitch').description('join the left of one image to the right of another'), { out: 'stitch.png', n: 4 })
    .requiredOption('--left <image>', 'image whose left part is kept')
    .requiredOption('--right <image>', 'image whose right part is kept')
    .option('--seam <tokens>', 'width of the generated seam in token columns', int('--seam', 1), 2)
    .action(async (flags: TaskFlags & { left: string; right: string; seam: number }) => {
      const model = loadModel(flags.model);
      const left = await readModelImage(model, flags.left);
      const right = await readModelImage(model, flags.right);
      await runTask(flags, model, (o) => stitch(model, left, right, flags.seam, o), [left, right]);
      await model.release();
    });

  taskOptions(program.command('extend').description('paint images larger than the model was trained on (or outpaint one)'), { out: 'extend.png', n: 2 })
    .requiredOption('--size <WxH>', 'canvas size in pixels, e.g. 64x32')
    .option('--in <image>', 'an image to outpaint, placed at --at')
    .option('--at <x,y>', 'where the image goes on the canvas (pixels)', '0,0')
    .option('--stride <tokens>', 'window stride in tokens (default: a quarter of the model grid)', int('--stride', 1))
    .action(async (flags: TaskFlags & { size: string; in?: string; at: string; stride?: number }) => {
      const m = /^(\d+)x(\d+)$/.exec(flags.size);
      if (!m) throw new UnmaskError(`--size must be WIDTHxHEIGHT in pixels, got '${flags.size}'`, 'pass e.g. --size 64x32');
      const [x, y] = flags.at.split(',').map(Number);
      const model = loadModel(flags.model);
      const img = flags.in ? await readModelImage(model, flags.in) : undefined;
      const f = model.tokenizer.pixelsPerToken;
      const width = Number(m[1]), height = Number(m[2]);
      await runTask(flags, model, (o) => extend(model, { ...o, width, height, stride: flags.stride, image: img, at: { x, y } }), [], [height / f, width / f]);
      await model.release();
    });

  program
    .command('likelihood')
    .description("the ELBO of an image's codes under the prior in bits per token, and bits per dimension when the tokenizer has the log σ head")
    .option('--model <name|dir>', 'an embedded model or a run directory', DEFAULT_MODEL)
    .requiredOption('--in <image>', 'the image')
    .option('--seed <s>', 'seed for the random masks', int('--seed', 0), 0)
    .option('--json', 'print JSON')
    .action(async (flags: { model: string; in: string; seed: number; json?: boolean }) => {
      const model = loadModel(flags.model);
      const r = await likelihood(model, await readModelImage(model, flags.in), { seed: flags.seed });
      const note = r.bitsPerDim === null ? 'bits per dimension needs a log σ head on the tokenizer, which this model does not have — fit one with unmask train logsigma' : null;
      if (flags.json) process.stdout.write(`${JSON.stringify({ image: flags.in, ...r, note })}\n`);
      else {
        const pixels = r.bitsPerDim === null ? note : `${r.bitsPerDim.toFixed(4)} bits per dimension (−log p(x | z) ${r.nllGivenCodes!.toFixed(1)} nats, 5-bit pixels)`;
        process.stdout.write(`${flags.in}: ${r.bound} ${r.bitsPerToken.toFixed(4)} bits per token (${(r.bitsPerToken * r.tokens).toFixed(1)} bits for ${r.tokens} tokens); ${pixels}\n`);
      }
      await model.release();
    });

  program
    .command('models')
    .description('list the embedded models')
    .option('--json', 'print JSON')
    .action((flags: { json?: boolean }) => {
      const models = listModels();
      if (flags.json) process.stdout.write(`${JSON.stringify(models)}\n`);
      else if (!models.length) process.stdout.write('no embedded models installed; train one with unmask train vqgan and unmask train prior\n');
      else for (const m of models) process.stdout.write(`${m.name}${m.name === DEFAULT_MODEL ? ' (default)' : ''}  ${m.summary}${m.classes.length ? `\n  classes (--class): ${m.classes.join(', ')}` : ''}\n`);
    });
}
