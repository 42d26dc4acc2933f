// export --format reference: an unmask model as the reference implementation's torch.save files, with
// the reference's exact key set (so its load_state_dict(strict=True) finds every tensor; checked with
// PyTorch by reference/check_reference_export.py), the same tensors as the checkpoint they were imported
// from, and the same model when imported back.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadParams } from '../../src/engine/checkpoint.ts';
import { exportReference } from '../../src/interop/export.ts';
import { importReference } from '../../src/interop/import.ts';
import { type TorchTensor, readTorchStateDict } from '../../src/interop/torch-file.ts';
import { generate } from '../../src/inference/tasks.ts';
import { MODELS_DIR, loadModel } from '../../src/inference/model-dir.ts';
import { cli } from '../helpers/cli.ts';

const FIXTURES = new URL('../fixtures/torch/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'unmask-export-ref-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const isZero = (t: TorchTensor) => Array.from(t.data as ArrayLike<number | bigint>).every((v) => Number(v) === 0);
const same = (a: TorchTensor, b: TorchTensor) => a.dtype === b.dtype && a.shape.join() === b.shape.join() && Buffer.compare(Buffer.from(a.data.buffer), Buffer.from(b.data.buffer)) === 0;

describe('export --format reference', () => {
  it('gives back the imported checkpoint: the same keys, the same tensors bit for bit, idle ones zeroed', async () => {
    const vqgan = join(FIXTURES, 'tiny-vqgan.zip-f32.th');
    const prior = join(FIXTURES, 'tiny-prior.legacy-f32.th');
    await importReference({ vqgan, prior, heads: 4, out: join(dir, 'imported') });
    const r = await cli('export', '--model', join(dir, 'imported'), '--format', 'reference', '--out', join(dir, 'ref'));
    expect(r.code).toBe(0);
    expect(r.err).toContain('vqgan_ema_0.th');

    const cases: [string, string, (k: string) => boolean][] = [
      // The reference VQGAN file also holds disc.* and perceptual.* (LPIPS), which an unmask model has no use for.
      [vqgan, 'vqgan_ema_0.th', (k) => k.startsWith('ae.')],
      [prior, 'absorbing_ema_0.th', () => true],
    ];
    for (const [source, exported, kept] of cases) {
      const a = (await readTorchStateDict(source)).tensors;
      const b = (await readTorchStateDict(join(dir, 'ref', exported))).tensors;
      expect([...b.keys()].sort()).toEqual([...a.keys()].filter(kept).sort());
      let identical = 0;
      const zeroed: string[] = [];
      for (const [k, t] of b) {
        if (same(t, a.get(k)!)) identical++;
        else {
          expect(isZero(t), k).toBe(true);
          zeroed.push(k);
        }
      }
      console.log(`${exported}: ${identical} tensors identical to ${source.split('/').at(-1)}, ${zeroed.length} zeroed (${[...new Set(zeroed.map((k) => k.replace(/\.\d+\./g, '.N.')))].join(', ')})`);
      // Zeroed: the unused ones only (idle conv_out, start_tok, the time sampler's statistics).
      expect(zeroed.every((k) => k.includes('.conv_out.') || k.endsWith('start_tok') || /^(Lt_history|Lt_count|loss_history)$/.test(k))).toBe(true);
    }
    const hparams = JSON.parse(readFileSync(join(dir, 'ref', 'hparams.json'), 'utf8'));
    expect(hparams).toMatchObject({ img_size: 16, nf: 32, ch_mult: [1, 1], codebook_size: 16, emb_dim: 8, latent_shape: [1, 8, 8], bert_n_emb: 32, bert_n_layers: 2, bert_n_head: 4, block_size: 64 });

    await importReference({ vqgan: join(dir, 'ref', 'vqgan_ema_0.th'), prior: join(dir, 'ref', 'absorbing_ema_0.th'), heads: 4, out: join(dir, 'back') });
    for (const f of ['params.safetensors', 'tokenizer.safetensors']) {
      const [x, y] = [loadParams(join(dir, 'imported', f)), loadParams(join(dir, 'back', f))];
      expect(y.names().sort()).toEqual(x.names().sort());
      for (const n of x.names()) expect(Buffer.compare(Buffer.from(y.get(n).data.buffer), Buffer.from(x.get(n).data.buffer)), n).toBe(0);
    }
  });

  it('takes a model trained in unmask to the reference and back: the same samples', async () => {
    const r = await exportReference(join(MODELS_DIR, 'fashion'), join(dir, 'fashion-ref'));
    expect(r.files).toEqual(['vqgan_ema_3000.th', 'absorbing_ema_3000.th', 'hparams.json']);
    // The fashion tokenizer has no log σ head: the file gets one as PyTorch initialises it, from a fixed
    // seed, so exporting again writes the same bytes.
    await exportReference(join(MODELS_DIR, 'fashion'), join(dir, 'fashion-ref-again'));
    for (const f of r.files) expect(readFileSync(join(dir, 'fashion-ref-again', f)).equals(readFileSync(join(dir, 'fashion-ref', f))), f).toBe(true);
    const head = (await readTorchStateDict(join(dir, 'fashion-ref', 'vqgan_ema_3000.th'))).tensors.get('ae.generator.logsigma.0.weight')!;
    expect(isZero(head)).toBe(false);
    await importReference({ vqgan: join(dir, 'fashion-ref', 'vqgan_ema_3000.th'), prior: join(dir, 'fashion-ref', 'absorbing_ema_3000.th'), heads: 8, out: join(dir, 'fashion-back') });
    const opts = { n: 2, steps: 6, seed: 11 };
    const before = loadModel('fashion');
    const after = loadModel(join(dir, 'fashion-back'));
    expect(after.tokenizer.config).toMatchObject({ channels: 1, imageSize: 32, nf: 32, chMult: [1, 2, 2], codebookSize: 128, embDim: 32 });
    const [a, b] = [await generate(before, opts), await generate(after, opts)];
    expect(Array.from(b.tokens)).toEqual(Array.from(a.tokens));
    expect(Math.max(...b.images.data.map((v, i) => Math.abs(v - a.images.data[i])))).toBe(0);
    await Promise.all([before.release(), after.release()]);
  });

  it('refuses an existing output directory and the options that belong to unmask exports', async () => {
    const taken = await cli('export', '--model', 'fashion', '--format', 'reference', '--out', join(dir, 'fashion-ref'));
    expect(taken.err).toMatch(/^unmask: .*fashion-ref already exists — choose a new --out directory \(export never overwrites\)\n$/);
    const labelled = await cli('export', '--model', 'fashion-classes', '--format', 'reference', '--out', join(dir, 'y'));
    expect(labelled.err).toMatch(/^unmask: .*fashion-classes is class-conditional \(10 classes\), and the reference code has no class labels — export an unconditional prior \(trained without --labels\)\n$/);
    expect(existsSync(join(dir, 'y'))).toBe(false);
    const fp32 = await cli('export', '--model', 'emoji', '--format', 'reference', '--out', join(dir, 'x'), '--fp32');
    expect(fp32.err).toBe('unmask: --fp32 and --report apply to --format unmask — the reference files are float32 and carry no model card\n');
  });
});
