// Fitting the log σ head as the reference does: one step's loss and gradients against PyTorch
// (reference/make_torch_checkpoints.py, float64), then a short fit that lowers the validation
// −log p(x | z), through the CLI, into a model whose likelihood reports bits per dimension.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../src/data/png.ts';
import { loadParams } from '../../src/engine/checkpoint.ts';
import { decodeSafetensors } from '../../src/engine/safetensors.ts';
import { Program } from '../../src/engine/session.ts';
import { TrainStep } from '../../src/engine/trainstep.ts';
import { loadTokenizer } from '../../src/inference/model-dir.ts';
import { importReference } from '../../src/interop/import.ts';
import { frozenGraph, headGraph } from '../../src/training/train-logsigma.ts';
import { cli } from '../helpers/cli.ts';

/** Loss (bits per dimension, ~4) and gradients through the frozen decoder in float32 vs PyTorch in float64. */
const LOSS_RTOL = 1e-5;
const GRAD_ATOL = 1e-5;
const GRAD_RTOL = 1e-3;

const FIXTURES = new URL('../fixtures/torch/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'unmask-logsigma-'));
const model = join(dir, 'tiny');
const images = join(dir, 'images');
beforeAll(async () => {
  await importReference({ vqgan: join(FIXTURES, 'tiny-vqgan.zip-f32.th'), prior: join(FIXTURES, 'tiny-prior.zip-f32.th'), heads: 4, out: model });
  mkdirSync(images);
  for (let k = 0; k < 30; k++) {
    const data = Float32Array.from({ length: 3 * 16 * 16 }, (_, i) => 0.5 + 0.45 * Math.sin(i / (2 + k / 3) + k));
    await writeImage(join(images, `${String(k).padStart(2, '0')}.png`), { n: 1, channels: 3, height: 16, width: 16, data });
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('train logsigma', () => {
  it("gives PyTorch's loss and head gradients for one step", async () => {
    const e = decodeSafetensors(new Uint8Array(readFileSync(join(FIXTURES, 'tiny-logsigma.safetensors')))).tensors;
    const config = loadTokenizer(model).config;
    const params = loadParams(join(model, 'tokenizer.safetensors'));
    // reference/make_torch_checkpoints.py's hashed_images(2, 16, seed 0).
    const x = Float32Array.from({ length: 2 * 3 * 16 * 16 }, (_, i) => (Math.imul(i, 2654435761 | 0) >>> 0) / 2 ** 32);
    const frozen = await Program.compile(frozenGraph(config, 2), { bake: params });
    const f = await frozen.run({ x });
    const { graph, loss } = headGraph(config, 2);
    const step = await TrainStep.compile(graph, loss);
    const r = await step.run({ x, features: f.features, mean: f.mean }, params);
    await Promise.all([frozen.release(), step.release()]);
    const want = (e.loss.data as Float32Array)[0];
    console.log(`loss ${r.loss} bits/dim (PyTorch ${want})`);
    expect(Math.abs(r.loss - want) / want).toBeLessThan(LOSS_RTOL);
    expect([...r.grads.keys()].sort()).toEqual(Object.keys(e).filter((k) => k.startsWith('grad.')).map((k) => k.slice(5)).sort());
    for (const [name, g] of r.grads) {
      const ref = e[`grad.${name}`].data as Float32Array;
      let worst = 0;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(g[i] - ref[i]) / (GRAD_ATOL + GRAD_RTOL * Math.abs(ref[i])));
      console.log(`${name}: ${ref.length} gradients, largest share of the tolerance used ${worst.toFixed(3)}`);
      expect(worst).toBeLessThanOrEqual(1);
    }
  });

  it('lowers the validation −log p(x | z) and writes a model whose likelihood uses the fitted head', async () => {
    const out = join(dir, 'fitted');
    const r = await cli('train', 'logsigma', '--model', model, '--data', images, '--out', out, '--steps', '40', '--lr', '1e-3', '--batch', '4', '--val-images', '3', '--json');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out.trim().split('\n').at(-1)!);
    console.log(`fit: validation −log p(x|z) ${summary.before} → ${summary.after} bits/dim`);
    expect(summary.after).toBeLessThan(summary.before - 0.05);
    const card = readFileSync(join(out, 'model-card.md'), 'utf8');
    expect(card).toContain('## Likelihood head');
    const before = loadParams(join(model, 'tokenizer.safetensors'));
    const after = loadParams(join(out, 'tokenizer.safetensors'));
    expect(after.get('generator.logsigma.0.weight').data).not.toEqual(before.get('generator.logsigma.0.weight').data);
    expect(after.get('generator.blocks.0.weight').data).toEqual(before.get('generator.blocks.0.weight').data);
    const lik = await cli('likelihood', '--model', out, '--in', join(images, '00.png'), '--json');
    expect(JSON.parse(lik.out).bitsPerDim).toBeGreaterThan(0);
  });
});
