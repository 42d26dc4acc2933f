// Tiny models written to disk in a moment, for tests of what loads, resumes and exports: a VQGAN run,
// a prior run (a complete model with optimizer state), and helpers to damage their files.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from '../../src/engine/safetensors.ts';
import { type PriorConfig, parsePriorConfig } from '../../src/models/prior-config.ts';
import { parseVqganConfig } from '../../src/models/vqgan-config.ts';
import { initPriorState, savePriorCheckpoint } from '../../src/training/train-prior.ts';
import { initVqganState, saveVqganCheckpoint } from '../../src/training/train-vqgan.ts';

/** 16-px greyscale images ↔ 8×8 codes of 16. */
export const TINY_VQ = parseVqganConfig({ channels: 1, imageSize: 16, nf: 32, chMult: [1, 1], resBlocks: 1, attnResolutions: [], codebookSize: 16, embDim: 8, ndf: 8, discLayers: 1 });

export function tinyPrior(overrides: Partial<PriorConfig> = {}): PriorConfig {
  return parsePriorConfig({ codebookSize: 16, latent: 8, dim: 32, layers: 1, heads: 2, batch: 4, warmup: 0, ...overrides });
}

/** A VQGAN training run (random weights, both optimizers). */
export function writeVqganRun(dir: string): void {
  saveVqganCheckpoint(dir, TINY_VQ, initVqganState(TINY_VQ, 1));
}

/** A prior training run: a complete model (prior, EMA, optimizer, tokenizer copy). */
export function writePriorRun(dir: string, overrides: Partial<PriorConfig> = {}): void {
  const prior = tinyPrior(overrides);
  savePriorCheckpoint(dir, prior, TINY_VQ, initVqganState(TINY_VQ, 1).ema, initPriorState(prior, 3));
}

/** Copies a model folder and rewrites one of its safetensors files through `edit`. */
export function withEditedTensors(from: string, to: string, file: string, edit: (tensors: Record<string, SafeTensor>) => void): string {
  cpSync(from, to, { recursive: true });
  const path = join(to, file);
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(path)));
  edit(tensors);
  writeFileSync(path, encodeSafetensors(tensors, metadata));
  return to;
}

/** Copies a model folder and rewrites its config.json through `edit`. */
export function withEditedConfig(from: string, to: string, edit: (config: Record<string, any>) => void): string {
  cpSync(from, to, { recursive: true });
  const path = join(to, 'config.json');
  const config = JSON.parse(readFileSync(path, 'utf8'));
  edit(config);
  writeFileSync(path, JSON.stringify(config));
  return to;
}
