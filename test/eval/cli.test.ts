// `unmask eval` and `unmask train features` as a user meets them: registered, documented, and failing in
// one line (exit 1) when the data cannot be evaluated.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { encodePng } from '../../src/data/png.ts';
import * as F from '../../src/engine/api.ts';
import { Graph } from '../../src/engine/graph.ts';
import { Program } from '../../src/engine/session.ts';
import { parsePriorConfig } from '../../src/models/prior-config.ts';
import { parseVqganConfig } from '../../src/models/vqgan-config.ts';
import { initPriorState, savePriorCheckpoint } from '../../src/training/train-prior.ts';
import { initVqganState } from '../../src/training/train-vqgan.ts';

const dir = mkdtempSync(join(tmpdir(), 'unmask-eval-cli-'));
const folder = join(dir, 'pictures');
const model = join(dir, 'model');
const onnx = join(dir, 'mean.onnx');
const onnxGrey = join(dir, 'mean-grey.onnx');

beforeAll(async () => {
  // A 16-px greyscale model, a folder of 32-px colour pictures (read at the model's size), and feature
  // networks for 32-px colour and greyscale images.
  const vq = parseVqganConfig({ channels: 1, imageSize: 16, nf: 32, chMult: [1, 1], resBlocks: 1, attnResolutions: [], codebookSize: 16, embDim: 8, ndf: 8, discLayers: 1 });
  const prior = parsePriorConfig({ codebookSize: 16, latent: 8, dim: 16, layers: 1, heads: 2, batch: 2 });
  savePriorCheckpoint(model, prior, vq, initVqganState(vq, 1).ema, initPriorState(prior, 2));
  mkdirSync(folder);
  for (let i = 0; i < 3; i++) {
    const data = Float32Array.from({ length: 3 * 32 * 32 }, (_, j) => ((i * 31 + j) % 97) / 96);
    writeFileSync(join(folder, `p${i}.png`), await encodePng({ n: 1, channels: 3, height: 32, width: 32, data }));
  }
  for (const [file, channels] of [[onnx, 3], [onnxGrey, 1]] as const) {
    const g = new Graph();
    g.output('features', F.reduceMean(g.input('images', [4, channels, 32, 32]), [2, 3]));
    const p = await Program.compile(g);
    writeFileSync(file, p.model);
    await p.release();
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('unmask eval', () => {
  it('is registered with its options, and train features beside train vqgan and prior', async () => {
    const help = await cli('eval', '--help');
    expect(help.code).toBe(0);
    for (const o of ['--model', '--data', '--steps', '--schedule', '--n', '--out', '--features', '--ar', '--temp']) expect(help.out).toContain(o);
    const train = await cli('train', '--help');
    expect(train.out).toMatch(/features\s/);
    expect(train.out).toMatch(/vqgan\s/);
  });

  it('rejects an unknown schedule in one line', async () => {
    const r = await cli('eval', '--model', model, '--data', folder, '--out', join(dir, 'r'), '--schedule', 'random,greedy');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^unmask: option '--schedule <list>' argument 'random,greedy' is invalid. --schedule takes random, confidence, halton, remask \(comma-separated\), got 'greedy' — see 'unmask eval --help'\n$/);
  });

  it('fails in one line when the data does not match the model', async () => {
    // A built-in set comes at its own size (Fashion-MNIST: 32 px).
    const r = await cli('eval', '--model', model, '--data', 'fashion', '--features', onnxGrey, '--n', '20', '--out', join(dir, 'r'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^unmask: .*fashion.* has 32×32 images with 1 channel\(s\) but the model makes 16×16 with 1 — evaluate on the data the model was trained on\n$/);
  });

  it("reads a folder at the model's size", async () => {
    // The 32-px colour pictures arrive as 16-px greyscale, which the 32-px colour feature network refuses.
    const r = await cli('eval', '--model', model, '--data', folder, '--features', onnx, '--n', '20', '--out', join(dir, 'r'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^unmask: .*mean\.onnx: the feature network takes \[4, 3, 32, 32\] but the images are \[B, 1, 16, 16\] — export it for 1×16×16 inputs, or resize the data\n$/);
  });

  it('train features refuses data without labels in one line', async () => {
    const r = await cli('train', 'features', '--data', folder, '--out', join(dir, 'f'), '--steps', '1');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^unmask: .*pictures-32-train has no class labels — the feature net trains on labels; use fashion or emoji, or pass an ONNX feature network\n$/);
  });
});
