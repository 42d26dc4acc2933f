// Training runs that cannot go silently wrong: a step that turns NaN stops the run at once, keeping the
// last good checkpoint and naming the step; flags a resumed run cannot honour are refused, not ignored;
// Ctrl-C saves a checkpoint and exits 130, so `train && export` does not export a half-trained model;
// and the "encode data" progress counts the images it encodes instead of sitting at its total.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import type { ImageSet } from '../../src/data/image-set.ts';
import { writeImage } from '../../src/data/png.ts';
import { findCheckpoint, loadCheckpoint } from '../../src/engine/checkpoint.ts';
import { runPriorTraining } from '../../src/training/run-prior.ts';
import { runVqganTraining } from '../../src/training/run-vqgan.ts';
import { cli } from '../helpers/cli.ts';
import { TINY_VQ, tinyPrior, writePriorRun, writeVqganRun } from '../helpers/tiny-model.ts';
import { initPriorState } from '../../src/training/train-prior.ts';
import { initVqganState, saveVqganCheckpoint } from '../../src/training/train-vqgan.ts';

const root = mkdtempSync(join(tmpdir(), 'unmask-runs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** 16-px blobs; every image turns NaN once `poison.on` is set. */
function blobs(count: number, poison = { on: false }): ImageSet {
  return {
    name: `blobs-${count}`, channels: 1, size: 16, count,
    read(i, out, off) {
      const cx = 3 + ((i * 5) % 10), cy = 3 + ((i * 3) % 10);
      for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) out[off + y * 16 + x] = poison.on ? Number.NaN : Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 8);
    },
  };
}

const base = { seed: 0, resume: false, flip: false, valImages: 4, command: 'test', dataCredit: '' };

describe('NaN during training', () => {
  it('stops a VQGAN run at the step that turned NaN, keeping the last good checkpoint', async () => {
    const out = join(root, 'vq-nan');
    const poison = { on: false };
    const run = runVqganTraining({
      ...base, out, config: { ...TINY_VQ, batch: 2 }, train: blobs(8, poison), val: blobs(4), steps: 10, checkpointEvery: 2,
      onStep: (i) => void (i.step === 3 && (poison.on = true)),
    });
    await expect(run).rejects.toThrow(`training diverged at step 4: rec NaN, codebook NaN; stopped without saving, the checkpoint of step 2 in ${out} is kept — resume with --resume and a lower learning rate ('lr' in --config), or start again`);
    const kept = loadCheckpoint(out);
    expect(kept.state.step).toBe(2);
    expect([...kept.params.map.values()].every((p) => p.data.every(Number.isFinite))).toBe(true);
  });

  it('stops a prior run whose learning rate blows it up, never saving NaN', async () => {
    const vq = join(root, 'vq-for-prior');
    writeVqganRun(vq);
    const out = join(root, 'prior-nan');
    const run = runPriorTraining({
      ...base, out, vqgan: vq, config: { dim: 32, layers: 1, heads: 2, batch: 4, warmup: 0, lr: 1e30 }, train: blobs(16), val: blobs(4),
      steps: 20, checkpointEvery: 1, valLatents: 4, elboTimes: 2, sampleSteps: 2, cacheDir: join(root, 'cache'),
    });
    await expect(run).rejects.toThrow(/^training diverged at step (\d+): .*(NaN|Infinity).*; stopped without saving/);
    const at = findCheckpoint(out);
    if (at) for (const p of loadCheckpoint(out).params.map.values()) expect(p.data.every(Number.isFinite)).toBe(true);
  });
});

/** A folder of 12 greyscale PNGs, for the CLI. */
const folder = join(root, 'pngs');
mkdirSync(folder);
const images = Promise.all(
  Array.from({ length: 12 }, (_, i) => writeImage(join(folder, `${i}.png`), { n: 1, channels: 1, height: 32, width: 32, data: new Float32Array(1024).map((_, j) => ((i + j) % 9) / 9) })),
);

describe('resuming', () => {

  it('refuses flags the run cannot honour and honours the learning rate', async () => {
    await images;
    const run = join(root, 'prior-run');
    writePriorRun(run);
    const resume = (...flags: string[]) => cli('train', 'prior', '--data', folder, '--out', run, '--resume', '--steps', '1', ...flags);
    for (const [flags, message] of [
      [['--layers', '4', '--dim', '64'], /^unmask: cannot change layers to 4 when resuming \(the run has 1\) — only lr, warmup, emaDecay, gradClip may change; drop that flag, or start a new run in another --out\n$/],
      [['--lr', '0.5', '--batch', '64'], /cannot change batch to 64 when resuming \(the run has 4\)/],
      [['--causal'], /cannot change causal to true/],
      [['--preset', 'compact'], /^unmask: --preset cannot change a run that is resumed \(it keeps the ones it started with\) — drop --preset, or start a new run in another --out\n$/],
      [['--seed', '5'], /--seed cannot change a run that is resumed/],
      [['--vqgan', run], /--vqgan cannot change a run that is resumed/],
    ] as const) {
      const r = await resume(...flags);
      expect(r.code, flags.join(' ')).toBe(1);
      expect(r.err).toMatch(message);
    }
    expect(loadCheckpoint(run).state.step).toBe(0);
    const r = await resume('--lr', '0.002', '--checkpoint-every', '1');
    expect(r.code).toBe(0);
    const after = loadCheckpoint(run);
    expect(after.state.step).toBe(1);
    expect((after.config as { prior: { lr: number } }).prior.lr).toBe(0.002);
  });

  it('keeps the seed and the commands that trained a run in its model card across resumes', async () => {
    const vq = join(root, 'vq-for-card');
    writeVqganRun(vq);
    const out = join(root, 'prior-card');
    const prior = (command: string, steps: number, resume: boolean) =>
      runPriorTraining({
        ...base, out, vqgan: vq, command, resume, steps, seed: resume ? 0 : 7, config: { dim: 32, layers: 1, heads: 2, batch: 4, warmup: 0 },
        train: blobs(16), val: blobs(4), checkpointEvery: 1, valLatents: 4, elboTimes: 2, sampleSteps: 2, cacheDir: join(root, 'cache'),
      });
    const card = () => readFileSync(join(out, 'model-card.md'), 'utf8');
    await prior('unmask train prior --seed 7 --steps 1', 1, false);
    expect(card()).toMatch(/\. Seed 7\.\n- Command: `unmask train prior --seed 7 --steps 1`\n/);
    await prior('unmask train prior --resume --steps 2', 2, true);
    await prior('unmask train prior --resume --steps 2', 2, true); // the same resume again is one line, not two
    await prior('unmask train prior --resume --steps 3', 3, true);
    expect(card()).toContain(
      '. Seed 7.\n- Commands (the first started the run, each later one resumed it):\n  1. `unmask train prior --seed 7 --steps 1`\n  2. `unmask train prior --resume --steps 2`\n  3. `unmask train prior --resume --steps 3`\n',
    );

    // A VQGAN run likewise; a run saved before this record says so instead of naming the resume's defaults.
    const vqOut = join(root, 'vq-card');
    const vqgan = (command: string, steps: number, resume: boolean) =>
      runVqganTraining({ ...base, out: vqOut, command, resume, steps, seed: resume ? 0 : 5, config: { ...TINY_VQ, batch: 2 }, train: blobs(8), val: blobs(4), checkpointEvery: 1 });
    await vqgan('unmask train vqgan --seed 5', 1, false);
    await vqgan('unmask train vqgan --resume --steps 2', 2, true);
    expect(readFileSync(join(vqOut, 'model-card.md'), 'utf8')).toMatch(/\. Seed 5\.\n- Commands \(.*\):\n  1\. `unmask train vqgan --seed 5`\n  2\. `unmask train vqgan --resume --steps 2`\n/);
    const old = join(root, 'prior-old');
    writePriorRun(old);
    await runPriorTraining({
      ...base, out: old, command: 'unmask train prior --resume --steps 1', resume: true, steps: 1, config: {},
      train: blobs(16), val: blobs(4), checkpointEvery: 1, valLatents: 4, elboTimes: 2, sampleSteps: 2, cacheDir: join(root, 'cache'),
    });
    expect(readFileSync(join(old, 'model-card.md'), 'utf8')).toContain('Seed not recorded (the run was started by an earlier version of unmask).\n- Command that started the run: not recorded; resumed with `unmask train prior --resume --steps 1`\n');
  });

  it('checks a VQGAN run\'s state.json extra before resuming', async () => {
    const vq = join(root, 'vq-bad-extra');
    writeVqganRun(vq);
    const state = JSON.parse(readFileSync(join(vq, 'state.json'), 'utf8'));
    state.extra.lastUsed = [1, 2];
    writeFileSync(join(vq, 'state.json'), JSON.stringify(state));
    const r = await cli('train', 'vqgan', '--data', folder, '--out', vq, '--resume', '--steps', '1');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/state\.json: extra\.lastUsed: .* — the checkpoint is damaged/);
  });
});

describe('fine-tuning (--init)', () => {
  const from = join(root, 'prior-to-tune');
  const tune = (out: string, ...flags: string[]) => cli('train', 'prior', '--init', from, '--data', folder, '--out', out, '--steps', '1', '--batch', '4', ...flags);

  it('starts a new run from a model\'s prior weights, with its architecture and tokenizer, and says so in the card', async () => {
    await images;
    writePriorRun(from, { loss: 'mlm', timeSampling: 'cosine', emaDecay: 0.9 });
    const out = join(root, 'tuned');
    // A learning rate too small to move the weights: after one step they are still the model's.
    const r = await tune(out, '--lr', '1e-12', '--warmup', '0', '--checkpoint-every', '1');
    expect(r.code, r.err).toBe(0);
    const start = loadCheckpoint(from).ema!;
    const tuned = loadCheckpoint(out);
    expect(tuned.state.step).toBe(1);
    // The model's architecture and recipe, with the flags on top.
    expect((tuned.config as { prior: object }).prior).toMatchObject({ layers: 1, dim: 32, loss: 'mlm', timeSampling: 'cosine', emaDecay: 0.9, lr: 1e-12 });
    const fresh = initPriorState(tinyPrior(), 0).params;
    let fromStart = 0;
    let fromFresh = 0;
    for (const name of start.names()) {
      for (const store of [tuned.params, tuned.ema!]) {
        const a = store.get(name).data;
        const b = start.get(name).data;
        const c = fresh.get(name).data;
        for (let i = 0; i < a.length; i++) {
          fromStart = Math.max(fromStart, Math.abs(a[i] - b[i]));
          fromFresh = Math.max(fromFresh, Math.abs(a[i] - c[i]));
        }
      }
    }
    expect(fromStart).toBeLessThan(1e-6);
    expect(fromFresh).toBeGreaterThan(0.01);
    expect(readFileSync(join(out, 'model-card.md'), 'utf8')).toContain(`- Started from the prior weights of ${from} at its step 0 (fine-tuning:`);
  });

  it('refuses flags that would change the model, another tokenizer, and --init on a resumed run', async () => {
    await images;
    writePriorRun(from);
    const otherVq = join(root, 'vq-other');
    saveVqganCheckpoint(otherVq, TINY_VQ, initVqganState(TINY_VQ, 2));
    for (const [flags, message] of [
      [['--layers', '4'], /^unmask: cannot change layers to 4 when fine-tuning .* \(it has 1\) — drop that flag: --init keeps the model's architecture and classes\n$/],
      [['--vqgan', otherVq], /^unmask: --vqgan .* is not the tokenizer .* was trained with, so its prior would read other codes — drop --vqgan/],
      [['--preset', 'compact'], /^unmask: --preset and --init both set the prior's size — drop --preset/],
    ] as const) {
      const r = await tune(join(root, `tuned-${flags[0].slice(2)}`), ...flags);
      expect(r.code, flags.join(' ')).toBe(1);
      expect(r.err).toMatch(message);
    }
    const run = join(root, 'prior-run-2');
    writePriorRun(run);
    const r = await cli('train', 'prior', '--data', folder, '--out', run, '--resume', '--init', from, '--steps', '1');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--init cannot change a run that is resumed/);
  });
});

describe('Ctrl-C', () => {
  it('saves a checkpoint and exits 130', async () => {
    const out = join(root, 'interrupted');
    let out_ = '';
    let err = '';
    let sent = false;
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out_ += String(s);
      // The first progress line of training: a user presses Ctrl-C.
      if (!sent && out_.includes('"task":"train vqgan"')) {
        sent = true;
        process.emit('SIGINT');
      }
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
    const config = join(root, 'tiny.json');
    writeFileSync(config, JSON.stringify({ nf: 32, chMult: [1, 1], resBlocks: 1, attnResolutions: [], codebookSize: 16, embDim: 8, ndf: 8, discLayers: 1, batch: 2 }));
    const code = await main(['node', 'unmask', 'train', 'vqgan', '--data', folder, '--config', config, '--out', out, '--steps', '50', '--checkpoint-every', '25', '--json']);
    vi.restoreAllMocks();
    expect(sent).toBe(true);
    expect(code).toBe(130);
    expect(err).toContain(`unmask: stopped on request; the last checkpoint is saved in ${out} — continue with the same command and --resume\n`);
    expect(loadCheckpoint(out).state.step).toBeGreaterThanOrEqual(1);
    expect(loadCheckpoint(out).state.step).toBeLessThan(25);
  });
});

describe('encode data progress', () => {
  it('counts up through both splits to their total, cached or not', async () => {
    const vq = join(root, 'vq-progress');
    writeVqganRun(vq);
    const seen: [number, number][] = [];
    for (const pass of ['encoding', 'cached']) {
      seen.length = 0;
      await runPriorTraining({
        ...base, out: join(root, `prior-progress-${pass}`), vqgan: vq, config: { dim: 32, layers: 1, heads: 2, batch: 4 }, train: blobs(600), val: blobs(300),
        steps: 0, checkpointEvery: 1, valLatents: 4, elboTimes: 2, sampleSteps: 2, cacheDir: join(root, 'progress-cache'),
        onEncode: (done, total) => seen.push([done, total]),
      });
      expect(seen.every(([, total]) => total === 900)).toBe(true);
      const done = seen.map(([d]) => d);
      expect(done.every((d, i) => i === 0 || d >= done[i - 1])).toBe(true);
      expect(done.at(-1)).toBe(900);
      if (pass === 'encoding') expect(done).toEqual([256, 512, 600, 600, 856, 900, 900]);
    }
  });
});
