// VQGAN training: a checkpoint round trip, resume reproducing an uninterrupted run exactly, and a short
// run through an ONNX perceptual network with its model card.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import type { ImageSet } from '../../src/data/image-set.ts';
import { parseVqganConfig } from '../../src/models/vqgan-config.ts';
import { runVqganTraining } from '../../src/training/run-vqgan.ts';
import { initVqganState, loadVqganCheckpoint, saveVqganCheckpoint, type VqganStepInfo, VqganTrainer } from '../../src/training/train-vqgan.ts';

// Small enough to take ~50 ms a step; the GAN starts at step 3 and dead codes are revived every 2 steps,
// so a resume at step 3 crosses every piece of trainer state, DiffAugment's draws from the run's Rng included.
const config = parseVqganConfig({
  channels: 1, imageSize: 16, nf: 32, chMult: [1, 1], resBlocks: 1, attnResolutions: [8],
  codebookSize: 16, embDim: 8, ndf: 8, discLayers: 2, discStartStep: 3, deadCodeSteps: 2, batch: 4, lr: 1e-3,
  perceptual: 'disc-features', diffAugment: 'color,translation,cutout',
});

const blobs: ImageSet = {
  name: 'blobs', channels: 1, size: 16, count: 32,
  read(i, out, off) {
    const cx = 3 + ((i * 5) % 10), cy = 3 + ((i * 3) % 10);
    for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) out[off + y * 16 + x] = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 8);
  },
};

const dir = mkdtempSync(join(tmpdir(), 'unmask-vq-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(trainer: VqganTrainer, steps: number) {
  for (let i = 0; i < steps; i++) await trainer.step();
}

describe('VQGAN trainer', () => {
  it('resumes from a checkpoint to the same weights as an uninterrupted run', async () => {
    const straight = initVqganState(config, 7);
    const a = new VqganTrainer(config, straight, blobs, { flip: true });
    await run(a, 6);
    await a.release();

    const first = initVqganState(config, 7);
    const b = new VqganTrainer(config, first, blobs, { flip: true });
    await run(b, 3);
    await b.release();
    saveVqganCheckpoint(join(dir, 'run'), config, first);

    const loaded = loadVqganCheckpoint(join(dir, 'run'));
    expect(loaded.config).toEqual(config);
    expect(loaded.state.step).toBe(3);
    const c = new VqganTrainer(loaded.config, loaded.state, blobs, { flip: true });
    await run(c, 3);
    await c.release();

    let worst = 0;
    for (const name of straight.params.names()) {
      const p = straight.params.get(name).data;
      const q = loaded.state.params.get(name).data;
      for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i] - q[i]));
    }
    for (const name of straight.ema.names()) {
      const p = straight.ema.get(name).data;
      const q = loaded.state.ema.get(name).data;
      for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i] - q[i]));
    }
    console.log(`resumed vs uninterrupted after 6 steps: max |Δ| over weights and EMA = ${worst}`);
    expect(worst).toBe(0);
    expect(loaded.state.reinitialised).toBe(straight.reinitialised);
    expect(Array.from(loaded.state.lastUsed)).toEqual(Array.from(straight.lastUsed));
  });

  it('trains through an ONNX feature network, records it and DiffAugment in the model card, and refuses to resume if it changed', async () => {
    const net = join(dir, 'featnet.onnx');
    copyFileSync(join(import.meta.dirname, '..', 'fixtures', 'onnx-import', 'featnet.onnx'), net);
    const c = parseVqganConfig({ ...config, perceptual: net, discStartStep: 1 });
    const out = join(dir, 'onnx-perceptual');
    const seen: number[] = [];
    const opts = {
      out, config: c, train: blobs, val: blobs, steps: 2, seed: 1, resume: false, checkpointEvery: 2, flip: false,
      valImages: 4, command: 'test', dataCredit: '', onStep: (i: VqganStepInfo) => seen.push(i.perceptual!),
    };
    await runVqganTraining(opts);
    expect(seen.every((p) => p > 0 && Number.isFinite(p))).toBe(true);
    const card = readFileSync(join(out, 'model-card.md'), 'utf8');
    const sha = createHash('sha256').update(readFileSync(net)).digest('hex');
    expect(card).toContain(`through the ONNX feature network ${net} (sha256 ${sha}; input [?, 3, 16, 16] in [0, 1], 1-channel images repeated to 3 channels; outputs relu1, sigmoid2, linear3), weight 1.`);
    expect(card).toContain('- DiffAugment: color,translation,cutout (Zhao et al. 2020) on real and fake images before the discriminator');

    const model = onnxProto.onnx.ModelProto.decode(readFileSync(net));
    model.producerVersion = 'edited';
    writeFileSync(net, onnxProto.onnx.ModelProto.encode(model).finish());
    await expect(runVqganTraining({ ...opts, steps: 3, resume: true })).rejects.toThrow(/featnet\.onnx has changed since the run started \(sha256 [0-9a-f]{12}…, now [0-9a-f]{12}…\) — restore the file or start a new run/);
  });

  it('names the bad field of a config', () => {
    expect(() => parseVqganConfig({ ...config, codebookSize: 1 })).toThrow(/codebookSize/);
    expect(() => parseVqganConfig({ ...config, imageSize: 18, chMult: [1, 1, 1] })).toThrow(/imageSize/);
    expect(() => parseVqganConfig({ ...config, colour: 3 })).toThrow(/colour|unrecognized/i);
    expect(() => parseVqganConfig({ ...config, perceptual: 'vgg.pth' })).toThrow(/perceptual: must be 'none', 'disc-features' or the path of an .onnx feature network/);
    expect(() => parseVqganConfig({ ...config, discLayers: 3 })).toThrow(/discLayers: 3 discriminator layers are too many for 16-px/);
  });
});
