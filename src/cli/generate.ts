// `unmask sample | complete | inpaint | stitch | extend | likelihood | models`: thin shells over the
// library's tasks. Every task writes one image grid (inputs and mask first, then the results), after
// checking its outputs and its memory before any work.
import type { Command } from 'commander';
import { Option } from 'commander';
import { join } from 'node:path';
import { type Images, imageGrid, upscale } from '../data/images.ts';
import { writeImage } from '../data/png.ts';
import { type Fitted, type PixelBox, fitFor, mapBox, readFitted, readFittedMask } from '../data/prepare.ts';
import { checkMemory } from '../engine/limits.ts';
import { checkOutputFile, checkOutputFolder, imageFormatOf } from '../engine/outputs.ts';
import { estimateSampling, largestCanvas } from '../inference/budget.ts';
import { SAMPLERS, type SamplerName } from '../diffusion/samplers.ts';
import { PRECISIONS, type Precision } from '../engine/quantize.ts';
import { type KeepRegion, type TaskOptions, type TaskResult, boxMask, complete, decodePartial, extend, generate, inpaint, stitch } from '../inference/tasks.ts';
import { DEFAULT_MODEL, listModels, loadModel } from '../inference/model-dir.ts';
import { UnmaskModel } from '../inference/model.ts';
import { likelihood } from '../inference/likelihood.ts';
import { type PixelSize, int, nonNegativeNumber, parseBox, point, positiveNumber, size } from './parse.ts';
import { createProgress, formatSeconds } from './progress.ts';
import { UnmaskError } from '../errors.ts';

interface TaskFlags {
  model: string;
  scale: number;
  n: number;
  steps?: number;
  temp?: number;
  choiceTemp?: number;
  schedule?: SamplerName;
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
    .option('--steps <s>', "sampling steps, 1..tokens (default: the model's recommended, else min(50, tokens))", int('--steps', 1))
    .option('--temp <t>', "sampling temperature > 0 (default: the model's recommended, else 0.9)", positiveNumber('--temp'))
    .addOption(new Option('--schedule <order>', "which tokens to reveal when (default: the model's recommended, else random)").choices(Object.keys(SAMPLERS)))
    .option('--choice-temp <t>', 'the confidence order\'s choice temperature (MaskGIT: 4.5)', nonNegativeNumber('--choice-temp'))
    .option('--class <name>', 'class-conditional models: the class to make (see the model card, or unmask models); any: each result\'s class drawn as in the training data (sample\'s default); none: the null label (the default of tasks that keep part of an image)')
    .option('--guidance <w>', 'classifier-free guidance weight towards the class (0: the conditional model alone)', nonNegativeNumber('--guidance'))
    .option('--seed <s>', 'random seed', int('--seed', 0), 1)
    .addOption(new Option('--precision <p>', "the prior's linear layers: fp32, or int8 (about 2× faster on CPUs with 8-bit dot products; samples differ slightly)").choices([...PRECISIONS]).default('fp32'))
    .option('--out <file>', 'image grid to write: .png, .jpg or .webp', defaults.out)
    .option('--frames <dir>', 'also write the grid after every step, as frame-0001.png …')
    .option('--scale <k>', 'enlarge the written grids k times (nearest neighbour)', int('--scale', 1, 16), 1)
    .option('--json', 'print a JSON summary (and JSON progress lines) instead of text');
}

/**
 * Refuses outputs that would lose something before any work: --out must be an image name (.png, .jpg,
 * .webp) that is not an input, a folder, a device or inside a model; --frames a folder of our own.
 */
function checkOutputs(flags: TaskFlags, inputs: (string | undefined)[]): void {
  checkOutputFile(flags.out, '--out', inputs.filter((i): i is string => i !== undefined));
  imageFormatOf(flags.out);
  if (flags.frames) checkOutputFolder(flags.frames, '--frames');
}

/** Refuses a job that cannot fit in memory, before it samples for minutes and fails at decoding. */
function checkBudget(flags: TaskFlags, model: UnmaskModel, grid: [number, number], steps: number, job: string, stride?: number): void {
  const tok = model.tokenizer.config;
  const shape = { n: flags.n, steps, stride, frames: !!flags.frames, scale: flags.scale };
  const { bytes, seconds } = estimateSampling(model.prior, tok, { ...shape, grid });
  const canvas = grid[0] !== model.prior.latent || grid[1] !== model.prior.latent;
  checkMemory(bytes, job, (limit) => {
    if (!canvas) return 'ask for fewer images with --n, or drop --frames';
    const side = largestCanvas(model.prior, tok, shape, limit);
    return `choose a smaller --size (at most about ${side}x${side} fits)`;
  });
  if (seconds > 60 && !flags.json) process.stderr.write(`${job}: roughly ${formatSeconds(seconds)} of work on a 2-core CPU (the progress bar shows the real ETA)\n`);
}

/** Runs a task with progress, optional per-step frames, and writes the grid (the inputs and mask first). */
async function runTask(
  flags: TaskFlags,
  model: UnmaskModel,
  run: (o: TaskOptions) => Promise<TaskResult>,
  inputs: Fitted[] = [],
  grid?: [number, number],
  job?: { name: string; stride?: number },
): Promise<void> {
  const [h, w] = grid ?? [model.prior.latent, model.prior.latent];
  // The autoregressive baseline always takes one step per token.
  // Unset flags take the sampling the model recommends (recorded from its evaluation), else fixed defaults.
  const rec = model.prior.causal ? null : model.sampling;
  const steps = model.prior.causal ? h * w : (flags.steps ?? Math.min(rec?.steps ?? 50, h * w));
  const sampler = flags.schedule ?? rec?.schedule ?? 'random';
  const temperature = flags.temp ?? rec?.temperature ?? 0.9;
  const choiceTemperature = flags.choiceTemp ?? rec?.choiceTemperature;
  const schedule = model.prior.causal ? 'autoregressive' : sampler;
  const followed = !!rec && (flags.steps === undefined || flags.schedule === undefined || flags.temp === undefined);

  checkBudget(flags, model, [h, w], steps, job?.name ?? `${flags.n} image(s)`, job?.stride);
  if (!flags.json) for (const f of inputs) process.stderr.write(`${f.how}\n`);
  const frames: Int32Array[] = [];
  const progress = createProgress({ task: 'sampling', total: steps, json: flags.json });
  const t0 = performance.now();
  let result: TaskResult;
  try {
    result = await run({
      n: flags.n,
      steps,
      temperature,
      choiceTemperature,
      sampler,
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
  const given = inputs.map((f) => f.image);
  const lead = given.length && given[0].width === im.width && given[0].height === im.height
    ? [...given, maskImage(model, result.known, result.grid, im.channels)]
    : [];
  await writeImage(flags.out, upscale(imageGrid([...lead, im], { cols: gridColumns(lead.length, flags.n) }), flags.scale));
  if (flags.frames) await writeFrames(flags.frames, model, frames, result, lead, flags.scale);
  const fitted = inputs.map((f) => ({ file: f.file, width: f.source.width, height: f.source.height, fitted: f.how }));
  const summary = { out: flags.out, n: flags.n, steps, schedule, temperature, ...(flags.class ? { class: flags.class, guidance: flags.guidance ?? 0 } : {}), seed: flags.seed, precision: flags.precision, seconds, seconds_per_image: seconds / flags.n, inputs: fitted };
  if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else process.stderr.write(`wrote ${flags.out}: ${flags.n} image(s), ${steps} steps (${schedule}${followed ? ", the model's recommended sampling for unset flags" : ''}), ${seconds.toFixed(2)} s (${(seconds / flags.n).toFixed(3)} s per image)\n`);
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

/** Inputs are prepared as the model's training images were (see data/prepare.ts). */
const fitOptions = (model: UnmaskModel) => fitFor(model.tokenizer.config);

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

export function registerGenerate(program: Command): void {
  taskOptions(program.command('sample').description('generate images from scratch'), { out: 'samples.png', n: 16 }).action(async (flags: TaskFlags) => {
    checkOutputs(flags, []);
    const model = loadModel(flags.model);
    await runTask(flags, model, (o) => generate(model, o));
    await model.release();
  });

  taskOptions(program.command('complete').description('keep part of an image and generate the rest (any direction)'), { out: 'complete.png', n: 4 })
    .requiredOption('--in <image>', "the image (fitted to the model's size as its training images were)")
    .option('--keep <region>', "top, bottom, left, right, or box:x,y,w,h (pixels of the input image)", 'top')
    .action(async (flags: TaskFlags & { in: string; keep: string }) => {
      const box = flags.keep.startsWith('box:') ? parseBox(flags.keep.slice(4), '--keep box:') : null;
      if (!box && !['top', 'bottom', 'left', 'right'].includes(flags.keep)) {
        throw new UnmaskError(`--keep takes top, bottom, left, right or box:x,y,w,h, got '${flags.keep}'`, 'pass one of those, e.g. --keep left');
      }
      checkOutputs(flags, [flags.in]);
      const model = loadModel(flags.model);
      const img = await readFitted(flags.in, fitOptions(model));
      const keep = (box ? { box: mapBox(box, img, model.tokenizer.config.imageSize, '--keep box:') } : flags.keep) as KeepRegion;
      await runTask(flags, model, (o) => complete(model, img.image, keep, o), [img]);
      await model.release();
    });

  taskOptions(program.command('inpaint').description('regenerate a region of an image (white in the mask)'), { out: 'inpaint.png', n: 4 })
    .requiredOption('--in <image>', "the image (fitted to the model's size as its training images were)")
    .option('--mask <png>', 'mask image of the input image\'s size: white is regenerated')
    .option('--box <x,y,w,h>', 'regenerate this box (pixels of the input image) instead of a mask image', (v: string) => parseBox(v, '--box'))
    .action(async (flags: TaskFlags & { in: string; mask?: string; box?: PixelBox }) => {
      if (!flags.mask === !flags.box) throw new UnmaskError('inpaint needs the region to regenerate', 'give exactly one of --mask FILE or --box x,y,w,h');
      checkOutputs(flags, [flags.in, flags.mask]);
      const model = loadModel(flags.model);
      const fit = fitOptions(model);
      const img = await readFitted(flags.in, fit);
      const mask = flags.box ? boxMask(mapBox(flags.box, img, fit.size, '--box'), fit.size, fit.size) : await readFittedMask(flags.mask!, img, fit);
      await runTask(flags, model, (o) => inpaint(model, img.image, mask, o), [img]);
      await model.release();
    });

  taskOptions(program.command('stitch').description('join the left of one image to the right of another'), { out: 'stitch.png', n: 4 })
    .requiredOption('--left <image>', 'image whose left part is kept')
    .requiredOption('--right <image>', 'image whose right part is kept')
    .option('--seam <tokens>', 'width of the generated seam in token columns', int('--seam', 1), 2)
    .action(async (flags: TaskFlags & { left: string; right: string; seam: number }) => {
      checkOutputs(flags, [flags.left, flags.right]);
      const model = loadModel(flags.model);
      const left = await readFitted(flags.left, fitOptions(model));
      const right = await readFitted(flags.right, fitOptions(model));
      await runTask(flags, model, (o) => stitch(model, left.image, right.image, flags.seam, o), [left, right]);
      await model.release();
    });

  taskOptions(program.command('extend').description('paint images larger than the model was trained on (or outpaint one)'), { out: 'extend.png', n: 2 })
    .requiredOption('--size <WxH>', 'canvas size in pixels, e.g. 64x32', size('--size'))
    .option('--in <image>', 'an image to outpaint, placed at --at')
    .option('--at <x,y>', 'where --in goes on the canvas, in pixels (default 0,0)', point('--at'))
    .option('--stride <tokens>', 'window stride in tokens (default: a quarter of the model grid)', int('--stride', 1))
    .action(async (flags: TaskFlags & { size: PixelSize; in?: string; at?: { x: number; y: number }; stride?: number }) => {
      if (flags.at && !flags.in) throw new UnmaskError('--at places the --in image, but no --in was given', 'add --in IMAGE, or drop --at');
      checkOutputs(flags, [flags.in]);
      const model = loadModel(flags.model);
      const f = model.tokenizer.pixelsPerToken;
      const { width, height } = flags.size;
      const s = model.tokenizer.config.imageSize;
      if (width < s || height < s || width % f || height % f) {
        throw new UnmaskError(`--size ${width}x${height}: extend paints at least the model's ${s}×${s}, in multiples of its ${f}-pixel tokens`, `pass e.g. --size ${Math.max(s, Math.ceil(width / f) * f)}x${Math.max(s, Math.ceil(height / f) * f)}`);
      }
      const at = flags.at ?? { x: 0, y: 0 };
      if (flags.in && (at.x % f || at.y % f || at.x + s > width || at.y + s > height)) {
        throw new UnmaskError(`--at ${at.x},${at.y}: the ${s}×${s} image must sit inside the ${width}×${height} canvas at multiples of ${f} pixels`, `pass x ≤ ${width - s} and y ≤ ${height - s}, multiples of ${f}`);
      }
      const img = flags.in ? await readFitted(flags.in, fitOptions(model)) : undefined;
      const grid: [number, number] = [height / f, width / f];
      await runTask(flags, model, (o) => extend(model, { ...o, width, height, stride: flags.stride, image: img?.image, at }), img ? [img] : [], grid, {
        name: `extend to ${width}×${height} (${flags.n} image(s))`,
        stride: flags.stride,
      });
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
      const img = await readFitted(flags.in, fitOptions(model));
      if (!flags.json) process.stderr.write(`${img.how}\n`);
      const r = await likelihood(model, img.image, { seed: flags.seed });
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
      else for (const m of models) process.stdout.write(`${m.name}${m.name === DEFAULT_MODEL ? ' (default)' : ''}  ${m.summary}${m.classes.length ? `\n  classes (--class): ${m.classes.join(', ')}; or any, none` : ''}\n`);
    });
}
