// `unmask reconstruct | encode | decode`: images ↔ code grids with a trained tokenizer.
import type { Command } from 'commander';
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { writeImage } from '../data/png.ts';
import { fitFor, readFitted } from '../data/prepare.ts';
import { writeFileAtomic } from '../engine/files.ts';
import { checkInputFile } from '../engine/fs-errors.ts';
import { checkMemory } from '../engine/limits.ts';
import { checkOutputFile, imageFormatOf } from '../engine/outputs.ts';
import { decoderCost } from '../inference/budget.ts';
import { loadTokenizer } from '../inference/model-dir.ts';
import { psnr, type Tokenizer } from '../inference/tokenizer.ts';
import { UnmaskError } from '../errors.ts';

const MODEL_HELP = 'a VQGAN run directory, a complete model, or an embedded model name';

/** The image prepared as the tokenizer's training images were; says how on stderr. */
async function readFor(tok: Tokenizer, file: string) {
  const fitted = await readFitted(file, fitFor(tok.config));
  process.stderr.write(`${fitted.how}\n`);
  return fitted.image;
}

/** --out may not replace --in, a folder, a device, or a file inside a model; an image's name says its format. */
function checkOut(out: string, input: string, image: boolean): void {
  checkOutputFile(out, '--out', [input]);
  if (image) imageFormatOf(out);
}

const CodesFile = z.object({ height: z.number().int().positive(), width: z.number().int().positive(), codes: z.array(z.array(z.number().int().min(0))) });

export function registerTokenize(program: Command): void {
  program
    .command('reconstruct')
    .description('encode an image to codes and decode it back')
    .requiredOption('--model <dir>', MODEL_HELP)
    .requiredOption('--in <image>', "image (fitted to the model's size as its training images were)")
    .requiredOption('--out <png>', 'where to write the reconstruction (.png, .jpg or .webp)')
    .action(async (o: { model: string; in: string; out: string }) => {
      checkOut(o.out, o.in, true);
      const tok = loadTokenizer(o.model);
      const img = await readFor(tok, o.in);
      const rec = await tok.reconstruct(img.data, 1);
      await writeImage(o.out, { ...img, data: rec });
      process.stderr.write(`wrote ${o.out}: PSNR ${psnr(img.data, rec, 1).toFixed(2)} dB against the input\n`);
      await tok.release();
    });

  program
    .command('encode')
    .description('image → code grid (JSON: {height, width, codes: rows of code indices})')
    .requiredOption('--model <dir>', MODEL_HELP)
    .requiredOption('--in <image>', "image (fitted to the model's size as its training images were)")
    .requiredOption('--out <json>', 'where to write the codes')
    .action(async (o: { model: string; in: string; out: string }) => {
      checkOut(o.out, o.in, false);
      const tok = loadTokenizer(o.model);
      const img = await readFor(tok, o.in);
      const codes = Array.from(await tok.encode(img.data, 1));
      const h = tok.latent;
      const rows = Array.from({ length: h }, (_, y) => codes.slice(y * h, (y + 1) * h));
      writeFileAtomic(o.out, `${JSON.stringify({ height: h, width: h, codes: rows })}\n`);
      process.stderr.write(`wrote ${o.out}: ${h}×${h} codes\n`);
      await tok.release();
    });

  program
    .command('decode')
    .description('code grid (JSON from unmask encode) → image')
    .requiredOption('--model <dir>', MODEL_HELP)
    .requiredOption('--in <json>', 'codes written by unmask encode')
    .requiredOption('--out <png>', 'where to write the image (.png, .jpg or .webp)')
    .action(async (o: { model: string; in: string; out: string }) => {
      checkOut(o.out, o.in, true);
      checkInputFile(o.in, 'a code grid (JSON)');
      // JSON.parse holds a boxed number per code: about 20 bytes of memory per byte of the file.
      checkMemory(20 * statSync(o.in).size, `reading ${o.in}`, 'give the code grid written by unmask encode');
      const tok = loadTokenizer(o.model);
      let parsed: z.infer<typeof CodesFile>;
      try {
        parsed = CodesFile.parse(JSON.parse(readFileSync(o.in, 'utf8')));
      } catch {
        throw new UnmaskError(`${o.in}: not a code grid`, 'give the JSON written by unmask encode ({height, width, codes})');
      }
      const k = tok.config.codebookSize;
      const flat = parsed.codes.flat();
      if (parsed.codes.length !== parsed.height || parsed.codes.some((r) => r.length !== parsed.width)) {
        throw new UnmaskError(`${o.in}: codes are not ${parsed.height} rows of ${parsed.width}`, 'fix the grid');
      }
      const bad = flat.find((v) => v >= k);
      if (bad !== undefined) throw new UnmaskError(`${o.in}: code ${bad} is outside this model's codebook of ${k}`, 'use the model that encoded it');
      const f = tok.pixelsPerToken;
      checkMemory(decoderCost(tok.config, parsed.height, parsed.width).bytes, `decoding a ${parsed.height}×${parsed.width} code grid`, 'decode a smaller grid');
      const data = await tok.decodeAt(Int32Array.from(flat), 1, parsed.height, parsed.width);
      await writeImage(o.out, { n: 1, channels: tok.config.channels, height: parsed.height * f, width: parsed.width * f, data });
      process.stderr.write(`wrote ${o.out}\n`);
      await tok.release();
    });
}
