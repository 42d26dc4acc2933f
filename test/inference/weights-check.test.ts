// No silent wrong results from damaged models: NaN or infinite weights (prior or tokenizer) and a
// config.json that does not describe the weights are refused when the model loads, naming the tensor.
// Before, NaN weights sampled one-token images with exit 0, and a config saying 1 layer over weights
// holding 6 sampled from the first layer without a word.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { loadCheckpoint } from '../../src/engine/checkpoint.ts';
import { MODELS_DIR, loadModel, loadTokenizer } from '../../src/inference/model-dir.ts';
import { cli } from '../helpers/cli.ts';
import { withEditedConfig, withEditedTensors, writePriorRun, writeVqganRun } from '../helpers/tiny-model.ts';

const root = mkdtempSync(join(tmpdir(), 'unmask-weights-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const run = join(root, 'run');
writePriorRun(run, { layers: 2 });
let serial = 0;
const copy = (name: string) => join(root, `${serial++}-${name}`);

describe('NaN and infinite weights', () => {
  it('in the prior are refused at load, naming the tensor', async () => {
    const bad = withEditedTensors(run, copy('nan-prior'), 'ema.safetensors', (t) => {
      (t['blocks.1.attn.key.weight'].data as Float32Array)[7] = Number.NaN;
      (t['blocks.1.attn.key.weight'].data as Float32Array)[9] = Number.POSITIVE_INFINITY;
    });
    expect(() => loadModel(bad)).toThrow(/\(prior weights\): tensor 'blocks\.1\.attn\.key\.weight' holds 2 NaN or infinite value\(s\) of 1024 — the weights are damaged/);
    const r = await cli('sample', '--model', bad, '--out', join(root, 'never.png'));
    expect(r.code).toBe(1);
    expect(r.err.split('\n')).toHaveLength(2);
  });

  it('in the tokenizer, of a model or of a VQGAN run', async () => {
    const bad = withEditedTensors(run, copy('nan-tokenizer'), 'tokenizer.safetensors', (t) => {
      (t['generator.blocks.0.weight'].data as Float32Array)[0] = Number.NEGATIVE_INFINITY;
    });
    expect(() => loadModel(bad)).toThrow(/tokenizer\.safetensors.*tensor 'generator\.blocks\.0\.weight' holds 1 NaN or infinite/);
    expect(() => loadTokenizer(bad)).toThrow(/holds 1 NaN or infinite/);
    const vq = join(root, 'vq');
    writeVqganRun(vq);
    const badVq = withEditedTensors(vq, copy('nan-vq'), 'ema.safetensors', (t) => {
      (t['encoder.blocks.0.bias'].data as Float32Array).fill(Number.NaN);
    });
    expect(() => loadTokenizer(badVq)).toThrow(/encoder\.blocks\.0\.bias' holds 32 NaN/);
    const r = await cli('reconstruct', '--model', badVq, '--in', join(MODELS_DIR, 'fashion', 'samples.png'), '--out', join(root, 'never.png'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^unmask: .* holds 32 NaN or infinite value\(s\) of 32 — the weights are damaged/);
  });

  it('in optimizer state are refused when a run resumes', () => {
    const bad = withEditedTensors(run, copy('nan-adam'), 'optimizer.safetensors', (t) => {
      const key = Object.keys(t).find((k) => k.startsWith('prior/v/'))!;
      (t[key].data as Float32Array)[0] = Number.NaN;
    });
    expect(() => loadCheckpoint(bad)).toThrow(/optimizer\.safetensors: tensor 'prior\/v\/.*' holds 1 NaN/);
  });
});

describe('config.json against the weights', () => {
  it('names extra tensors: a config saying 1 layer over weights holding 6', () => {
    const bad = withEditedConfig(join(MODELS_DIR, 'fashion'), copy('one-layer'), (c) => (c.prior.layers = 1));
    expect(() => loadModel(bad)).toThrow(
      /\(prior weights\) do not match config\.json: 80 tensor\(s\) config\.json does not declare \(blocks\.1\.attn\.key\.bias, blocks\.1\.attn\.key\.weight, blocks\.1\.attn\.proj\.bias and 77 more\) — the config and the weights come from different models/,
    );
  });

  it('names missing and mis-shaped tensors', () => {
    const missing = withEditedTensors(run, copy('missing'), 'ema.safetensors', (t) => delete t['ln_f.weight']);
    expect(() => loadModel(missing)).toThrow(/1 tensor\(s\) missing \(ln_f\.weight \[32\]\)/);
    const wide = withEditedConfig(run, copy('wide'), (c) => (c.prior.dim = 64));
    expect(() => loadModel(wide)).toThrow(/mis-shaped \(.* is \[\d+(,\d+)*\] where config\.json needs \[\d+(,\d+)*\]/);
    const tok = withEditedConfig(run, copy('tok'), (c) => (c.tokenizer.codebookSize = 32));
    expect(() => loadModel(tok)).toThrow(/tokenizer\.safetensors\) do not match config\.json: 1 mis-shaped \(quantize\.embedding\.weight is \[16,8\] where config\.json needs \[32,8\]\)/);
  });

  it("declares a class-conditional model's label embedding, so such a model loads", () => {
    const labelled = copy('classes');
    writePriorRun(labelled, { classes: ['cat', 'dog'] });
    expect(loadModel(labelled).classes).toEqual(['cat', 'dog']);
    const unlabelled = withEditedTensors(labelled, copy('no-label-emb'), 'ema.safetensors', (t) => delete t['label_emb.weight']);
    expect(() => loadModel(unlabelled)).toThrow(/1 tensor\(s\) missing \(label_emb\.weight \[3,32\]\)/);
  });
});

describe('state.json', () => {
  it('is checked, not half-read', () => {
    const write = (state: unknown) => {
      const dir = copy('state');
      withEditedConfig(run, dir, () => {});
      writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
      return dir;
    };
    expect(() => loadCheckpoint(write({ step: 3, rng: ['x'] }))).toThrow(/state\.json: 'rng' is \["x"\], not a generator state \(four 32-bit words\) — the checkpoint is damaged/);
    expect(() => loadCheckpoint(write({ step: -1 }))).toThrow(/'step' is -1, not a step count/);
    expect(() => loadCheckpoint(write([1, 2]))).toThrow(/state\.json: not a JSON object/);
    expect(() => loadCheckpoint(write({ step: 1, rng: [1, 2, 3, 4.5] }))).toThrow(/not a generator state/);
    expect(() => loadCheckpoint(write({ step: 1, rng: [1, 2, 3, 4], extra: 'x' }))).toThrow(/'extra' is not a JSON object/);
  });
});
