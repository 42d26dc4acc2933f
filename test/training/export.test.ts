// Exported models load like runs: float32 exports sample the very same tokens; float16 halves the size.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePriorConfig } from '../../src/models/prior-config.ts';
import { parseVqganConfig } from '../../src/models/vqgan-config.ts';
import { generate } from '../../src/inference/tasks.ts';
import { loadModel } from '../../src/inference/model-dir.ts';
import { exportModel } from '../../src/training/export.ts';
import { initPriorState, savePriorCheckpoint } from '../../src/training/train-prior.ts';
import { initVqganState, saveVqganCheckpoint } from '../../src/training/train-vqgan.ts';

const dir = mkdtempSync(join(tmpdir(), 'unmask-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('export', () => {
  it('keeps sampling identical at float32 and halves the weights at float16', async () => {
    const vq = parseVqganConfig({ channels: 1, imageSize: 16, nf: 32, chMult: [1, 1], resBlocks: 1, attnResolutions: [], codebookSize: 16, embDim: 8, ndf: 8, discLayers: 1 });
    const prior = parsePriorConfig({ codebookSize: 16, latent: 8, dim: 32, layers: 1, heads: 2 });
    const state = initPriorState(prior, 3);
    for (const name of state.ema.names()) state.ema.get(name).data.forEach((v, i, a) => (a[i] = v + 0.01 * Math.sin(i))); // EMA ≠ params
    savePriorCheckpoint(join(dir, 'run'), prior, vq, initVqganState(vq, 1).ema, state);
    exportModel(join(dir, 'run'), join(dir, 'f32'), false);
    const { bytes } = exportModel(join(dir, 'run'), join(dir, 'f16'), true);

    const opts = { n: 2, steps: 8, seed: 5 };
    const run = loadModel(join(dir, 'run'));
    const f32 = loadModel(join(dir, 'f32'));
    const a = await generate(run, opts);
    const b = await generate(f32, opts);
    expect(Array.from(b.tokens)).toEqual(Array.from(a.tokens));
    await Promise.all([run.release(), f32.release()]);

    const size = (d: string) => statSync(join(dir, d, 'params.safetensors')).size + statSync(join(dir, d, 'tokenizer.safetensors')).size;
    expect(bytes).toBe(size('f16'));
    expect(size('f16') / size('f32')).toBeLessThan(0.52);
    const f16 = loadModel(join(dir, 'f16'));
    expect((await generate(f16, opts)).tokens).toHaveLength(2 * 64);
    await f16.release();
  });

  it('refuses a directory that is not a complete model', () => {
    const vq = parseVqganConfig({ channels: 1, imageSize: 16, nf: 32, chMult: [1, 1], resBlocks: 1, attnResolutions: [], codebookSize: 16, embDim: 8, ndf: 8, discLayers: 1 });
    saveVqganCheckpoint(join(dir, 'tokenizer-only'), vq, initVqganState(vq, 1));
    expect(() => loadModel(join(dir, 'tokenizer-only'))).toThrow(/holds a unmask-vqgan checkpoint, not a prior/);
    expect(() => loadModel(join(dir, 'nothing-here'))).toThrow(/no model '.*nothing-here'/);
  });
});
