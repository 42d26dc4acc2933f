// unmask import against PyTorch: checkpoints that PyTorch 1.13 wrote in the reference implementation's
// layout (reference/make_torch_checkpoints.py), in both torch.save formats and with float32 and float16
// storages, must give PyTorch's codes exactly and its decoder pixels, likelihoods and transformer
// logits within the tolerances below (PyTorch computed in float64); bad files are refused in one line
// with nothing written; export --format reference gives the same tensors back.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../src/data/png.ts';
import { loadParams } from '../../src/engine/checkpoint.ts';
import { Graph } from '../../src/engine/graph.ts';
import type { ParamStore } from '../../src/engine/params.ts';
import { decodeSafetensors } from '../../src/engine/safetensors.ts';
import { Program } from '../../src/engine/session.ts';
import { importReference } from '../../src/interop/import.ts';
import { priorFromReference } from '../../src/interop/reference-model.ts';
import { readTorchStateDict } from '../../src/interop/torch-file.ts';
import { transformerConfig } from '../../src/models/prior-config.ts';
import { transformer } from '../../src/models/transformer.ts';
import { embedCodes, generator } from '../../src/models/vqgan.ts';
import { Scope } from '../../src/nn/scope.ts';
import { loadModel } from '../../src/inference/model-dir.ts';
import { cli } from '../helpers/cli.ts';

/** Decoder output (about unit scale) in float32 through ~40 layers vs PyTorch in float64. */
const PIXEL_TOL = 1e-4;
/** Transformer logits (about unit scale) in float32 through 2–24 layers vs PyTorch in float64. */
const LOGIT_TOL = 1e-4;
/**
 * −log p(x | z) sums one float32 term per pixel and channel (768 for tiny, 196,608 at 256 px) of a few
 * units each; float32 summation in any order stays within ~1e-6 of the total's size.
 */
const NLL_RTOL = 1e-5;

const FIXTURES = new URL('../fixtures/torch/', import.meta.url).pathname;
const fixture = (name: string) => join(FIXTURES, name);
const dir = mkdtempSync(join(tmpdir(), 'unmask-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** reference/make_torch_checkpoints.py's hashed_images: ((i + 1000003·seed)·2654435761 mod 2³²) / 2³² in float32. */
function hashedImages(count: number, seed: number): Float32Array {
  const x = new Float32Array(count);
  for (let i = 0; i < count; i++) x[i] = (Math.imul(i + 1000003 * seed, 2654435761 | 0) >>> 0) / 2 ** 32;
  return x;
}

function expected(name: string) {
  const t = decodeSafetensors(new Uint8Array(readFileSync(fixture(`${name}-expected.safetensors`))), name).tensors;
  const num = (k: string) => Array.from(t[k].data as ArrayLike<number | bigint>, Number);
  return { seed: num('image_seed')[0], codes: num('codes'), mu: t.mu.data as Float32Array, muShape: t.mu.shape, nll: num('nll'), tokens: num('tokens'), tokenShape: t.tokens.shape, positions: num('positions'), logits: t.logits.data as Float32Array };
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

async function runGraph(g: Graph, params: ParamStore, feeds: Record<string, Float32Array | BigInt64Array>): Promise<Float32Array> {
  const p = await Program.compile(g, { bake: params });
  try {
    return (await p.run(feeds)).y.data as Float32Array;
  } finally {
    await p.release();
  }
}

/** Everything the model computes from the checkpoints, against PyTorch's numbers. */
async function parity(out: string, name: string): Promise<Record<string, number>> {
  const e = expected(name);
  const model = loadModel(out);
  const c = model.tokenizer.config;
  const [b] = e.muShape;
  const x = hashedImages(b * c.channels * c.imageSize * c.imageSize, e.seed);
  const codes = Array.from(await model.tokenizer.encode(x, b), Number);
  const { nats } = await model.tokenizer.nll(x, b);

  const tokParams = loadParams(join(out, 'tokenizer.safetensors'));
  const g = new Graph();
  const s = new Scope(g);
  const codesIn = g.input('codes', [b, model.tokenizer.latent, model.tokenizer.latent], 'int64');
  g.output('y', generator(s.sub('generator'), embedCodes(s.sub('quantize'), codesIn, c), c));
  const mu = await runGraph(g, tokParams, { codes: BigInt64Array.from(e.codes, BigInt) });

  const [batch, n] = e.tokenShape;
  const pg = new Graph();
  pg.output('y', transformer(new Scope(pg), pg.input('tokens', [batch, n], 'int64'), transformerConfig(model.prior)));
  const all = await runGraph(pg, model.priorParams, { tokens: BigInt64Array.from(e.tokens, BigInt) });
  const k = model.prior.codebookSize;
  const logits = new Float32Array(e.logits.length);
  for (let r = 0; r < batch; r++) e.positions.forEach((p, j) => logits.set(all.subarray((r * n + p) * k, (r * n + p + 1) * k), (r * e.positions.length + j) * k));
  await model.release();

  const diffs = {
    codesDiffering: codes.filter((v, i) => v !== e.codes[i]).length,
    pixels: maxAbs(mu, e.mu),
    nllRelative: Math.max(...Array.from(nats, (v, i) => Math.abs(v - e.nll[i]) / Math.abs(e.nll[i]))),
    logits: maxAbs(logits, e.logits),
  };
  console.log(`${name} vs PyTorch (${codes.length} codes, ${mu.length} pixels, ${logits.length} logits):`, diffs);
  expect(diffs.codesDiffering).toBe(0);
  expect(diffs.pixels).toBeLessThan(PIXEL_TOL);
  expect(diffs.nllRelative).toBeLessThan(NLL_RTOL);
  expect(diffs.logits).toBeLessThan(LOGIT_TOL);
  return diffs;
}

describe('unmask import: tiny checkpoints in every file variant', () => {
  for (const variant of ['zip-f32', 'zip-f16', 'legacy-f32', 'legacy-f16']) {
    it(`${variant}: codes exact, pixels, NLL and logits within tolerance`, async () => {
      const out = join(dir, `tiny-${variant}`);
      const r = await importReference({ vqgan: fixture(`tiny-vqgan.${variant}.th`), prior: fixture(`tiny-prior.${variant}.th`), heads: 4, out });
      expect(r.files.vqgan.format).toBe(variant.split('-')[0]);
      expect(r.files.vqgan.dtypes).toEqual([variant.endsWith('f32') ? 'float32' : 'float16']);
      expect(r.logSigma).toBe(true);
      await parity(out, 'tiny');
    });
  }

  it('infers the architecture and lists every key it leaves out', async () => {
    const r = await importReference({ vqgan: fixture('tiny-vqgan.zip-f32.th'), prior: fixture('tiny-prior.zip-f32.th'), heads: 4, out: join(dir, 'tiny-keys') });
    expect(r.tokenizer).toMatchObject({ channels: 3, imageSize: 16, nf: 32, chMult: [1, 1], resBlocks: 1, attnResolutions: [8], codebookSize: 16, embDim: 8, ndf: 8, discLayers: 2 });
    expect(r.prior).toMatchObject({ codebookSize: 16, latent: 8, dim: 32, layers: 2, heads: 4 });
    const source = await readTorchStateDict(fixture('tiny-vqgan.zip-f32.th'));
    const used = loadParams(join(dir, 'tiny-keys', 'tokenizer.safetensors')).names().map((n) => `ae.${n}`);
    // Every key of the file is either used or listed, and each used tensor is the file's, bit for bit.
    expect(new Set([...used, ...r.files.vqgan.unused])).toEqual(new Set(source.tensors.keys()));
    expect(r.files.vqgan.unused.filter((k) => k.startsWith('ae.')).every((k) => k.includes('.conv_out.'))).toBe(true);
    expect(r.files.prior!.unused).toEqual(['_denoise_fn.start_tok', 'Lt_history', 'Lt_count', 'loss_history']);
  });

  it("reads a state dict saved from a data-parallel model (every key under 'module.') the same", async () => {
    const plain = (await readTorchStateDict(fixture('tiny-prior.zip-f32.th'))).tensors;
    const wrapped = new Map([...plain].map(([k, v]) => [`module.${k}`, v]));
    const [a, b] = [priorFromReference(plain, { heads: 4 }), priorFromReference(wrapped, { heads: 4 })];
    expect(b.config).toEqual(a.config);
    expect(b.params.names()).toEqual(a.params.names());
    expect(b.unused).toEqual(a.unused);
  });

  it('stores float16 on request: half the bytes, the same values for float16-exact weights', async () => {
    const f32 = join(dir, 'tiny-keys');
    const f16 = join(dir, 'tiny-half');
    await importReference({ vqgan: fixture('tiny-vqgan.zip-f32.th'), prior: fixture('tiny-prior.zip-f32.th'), heads: 4, out: f16, fp16: true });
    for (const file of ['params.safetensors', 'tokenizer.safetensors']) {
      const [a, b] = [loadParams(join(f32, file)), loadParams(join(f16, file))];
      for (const n of a.names()) expect(maxAbs(b.get(n).data, a.get(n).data)).toBe(0);
      expect(statSync(join(f16, file)).size / statSync(join(f32, file)).size).toBeLessThan(0.52);
    }
  });
});

describe('unmask import: a VQGAN alone', () => {
  it('imports the tokenizer at a given image size; it reconstructs, and a prior trains on its codes', async () => {
    const out = join(dir, 'vqgan-only');
    const r = await importReference({ vqgan: fixture('tiny-vqgan.legacy-f16.th'), imageSize: 16, out });
    expect(r.kind).toBe('unmask-vqgan');
    const images = join(dir, 'folder');
    mkdirSync(images);
    for (let k = 0; k < 12; k++) {
      const data = Float32Array.from({ length: 3 * 16 * 16 }, (_, i) => 0.5 + 0.4 * Math.sin(i / (3 + k)));
      await writeImage(join(images, `${k}.png`), { n: 1, channels: 3, height: 16, width: 16, data });
    }
    const rec = await cli('reconstruct', '--model', out, '--in', join(images, '0.png'), '--out', join(dir, 'rec.png'));
    expect(rec.err).toMatch(/PSNR -?\d+\.\d+ dB/);
    const prior = join(dir, 'prior-on-imported');
    const train = await cli('train', 'prior', '--vqgan', out, '--data', images, '--out', prior, '--steps', '2', '--checkpoint-every', '2', '--layers', '1', '--dim', '32', '--heads', '2', '--batch', '2', '--json');
    expect(train.code).toBe(0);
    const sample = await cli('sample', '--model', prior, '--n', '1', '--steps', '2', '--out', join(dir, 'sample.png'));
    expect(sample.code).toBe(0);
  });
});

describe("unmask import: the released models' structure at 256 px", () => {
  it('infers the paper architecture from the files and matches PyTorch', async () => {
    const out = join(dir, 'paper');
    const r = await importReference({ vqgan: fixture('paper-vqgan.zip-f16.th'), prior: fixture('paper-prior.legacy-f32.th'), heads: 8, out });
    // No --image-size: the prior's 16×16 grid and the VQGAN's five levels fix it at 256.
    expect(r.tokenizer).toMatchObject({ imageSize: 256, nf: 32, chMult: [1, 1, 1, 1, 2], resBlocks: 2, attnResolutions: [16], codebookSize: 1024, embDim: 32, discLayers: 3 });
    expect(r.prior).toMatchObject({ codebookSize: 1024, latent: 16, dim: 32, layers: 24, heads: 8 });
    await parity(out, 'paper');
  });
});

describe('unmask import refuses bad input in one line and writes nothing', () => {
  const tinyVqgan = fixture('tiny-vqgan.zip-f32.th');
  const cases: [string, string[], string][] = [
    ['a truncated zip', ['--prior', fixture('bad-truncated.th'), '--heads', '4'], 'bad-truncated.th: is not a readable zip archive'],
    ['a pickle naming os.system', ['--prior', fixture('bad-global.th'), '--heads', '4'], 'names the global os.system, which a state dict never holds'],
    ['a storage shorter than its tensor', ['--prior', fixture('bad-short-storage.th'), '--heads', '4'], 'storage 0 holds'],
    ['a missing key', ['--prior', fixture('bad-missing-key.th'), '--heads', '4'], 'has no _denoise_fn.head.weight'],
    ['an unexpected key', ['--prior', fixture('bad-extra-key.th'), '--heads', '4'], 'has an unexpected key _denoise_fn.blocks.1.mlp.4.weight'],
    ['shapes that are not the preset', ['--prior', fixture('tiny-prior.zip-f32.th'), '--preset', 'churches'], 'not the released churches model'],
    ['no --heads for a prior', ['--prior', fixture('tiny-prior.zip-f32.th')], 'give --heads N'],
    ['a VQGAN file as the prior', ['--prior', tinyVqgan, '--heads', '4'], "the reference prior's keys start with _denoise_fn."],
  ];
  for (const [what, args, message] of cases) {
    it(what, async () => {
      const out = join(dir, `bad-${what.replace(/\W+/g, '-')}`);
      const r = await cli('import', '--vqgan', tinyVqgan, ...args, '--out', out);
      const error = r.err.trimEnd().split('\n').at(-1)!;
      console.log(`${what}: ${error}`);
      expect(r.code).toBe(1);
      // Progress lines ("reading …") may come first; the problem is one line, the last.
      expect(r.err.split('\n').filter((l) => l.startsWith('unmask:'))).toEqual([error]);
      expect(error).toMatch(/^unmask: .* — .+$/);
      expect(error).toContain(message);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dir).filter((f) => f.startsWith(`bad-${what.replace(/\W+/g, '-')}`))).toEqual([]);
    });
  }
});
