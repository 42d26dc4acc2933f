// Checkpoint directories and atomic files: round trips, resuming bit-exactly, and a save killed at
// every file-system call (simulated by making the k-th call tear its write and throw) never leaving
// a checkpoint that loads as anything but the old one or the new one.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  type Checkpoint,
  findCheckpoint,
  loadCheckpoint,
  loadParams,
  saveCheckpoint,
  saveParams,
} from '../../src/engine/checkpoint.ts';
import { writeFileAtomic } from '../../src/engine/files.ts';
import { adamInit, adamUpdate, emaUpdate } from '../../src/engine/optim.ts';
import { ParamStore } from '../../src/engine/params.ts';
import { Rng } from '../../src/engine/rng.ts';

const crash = vi.hoisted(() => ({ at: Number.POSITIVE_INFINITY, calls: 0, code: undefined as string | undefined }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  // Counts mutating calls; the one numbered `crash.at` dies, and a dying write leaves half its bytes.
  const dies = () => ++crash.calls === crash.at;
  const wrap =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A): R => {
      if (dies()) throw new Error('simulated crash');
      return fn(...args);
    };
  const writeFileSync = (file: number | string, data: string | Uint8Array) => {
    if (dies()) {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      fs.writeFileSync(file, bytes.subarray(0, bytes.length >> 1));
      // With a code, the write fails as the system would (ENOSPC: a full disk) instead of the process dying.
      throw crash.code ? Object.assign(new Error(`${crash.code}: simulated, write`), { code: crash.code }) : new Error('simulated crash');
    }
    fs.writeFileSync(file, data);
  };
  return {
    ...fs,
    default: fs,
    writeFileSync,
    renameSync: wrap(fs.renameSync),
    rmSync: wrap(fs.rmSync),
    mkdirSync: wrap(fs.mkdirSync),
    fsyncSync: wrap(fs.fsyncSync),
  };
});

const root = mkdtempSync(join(tmpdir(), 'unmask-ckpt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirCounter = 0;
const freshDir = () => join(root, `case-${dirCounter++}`);

function model(seed: number): ParamStore {
  const rng = new Rng(seed);
  const s = new ParamStore();
  s.set('blocks.0.weight', [3, 4], Float32Array.from({ length: 12 }, () => rng.normal()));
  s.set('blocks.0.bias', [4], Float32Array.from({ length: 4 }, () => rng.normal()));
  s.set('bn.running_var', [4], Float32Array.from([1, 1, 1, 1]));
  return s;
}

function gradients(params: ParamStore, rng: Rng): Map<string, Float32Array> {
  return new Map(['blocks.0.weight', 'blocks.0.bias'].map((n) => [n, Float32Array.from(params.get(n).data, () => rng.normal())]));
}

/** A checkpoint after `steps` AdamW steps with EMA, plus a second optimizer over a subset, as VQGAN training has. */
function trained(steps: number): { ckpt: Checkpoint; rng: Rng } {
  const rng = new Rng(42);
  const params = model(1);
  const names = ['blocks.0.weight', 'blocks.0.bias'];
  const prior = adamInit(params, names);
  const disc = adamInit(params, ['blocks.0.bias']);
  const ema = params.clone();
  for (let i = 0; i < steps; i++) {
    const g = gradients(params, rng);
    adamUpdate(params, g, prior, { lr: 1e-2, weightDecay: 0.01 });
    if (i % 2 === 0) adamUpdate(params, new Map([['blocks.0.bias', g.get('blocks.0.bias')!]]), disc, { lr: 1e-3 });
    emaUpdate(ema, params, 0.9);
  }
  const ckpt: Checkpoint = {
    config: { model: { layers: 2, dim: 8 }, train: { lr: 1e-2, steps: 100 }, name: 'tiny' },
    params,
    optimizers: { prior, disc },
    ema,
    state: { step: steps, rng: rng.state(), extra: { losses: [1.5, 1.25], note: null } },
    files: { 'model.onnx': Uint8Array.from([8, 1, 18, 0]), 'README.md': '# tiny\n' },
  };
  return { ckpt, rng };
}

function expectSame(got: Checkpoint, want: Checkpoint): void {
  expect(got.config).toEqual(want.config);
  expect(got.state).toEqual(want.state);
  expect(got.params.map).toEqual(want.params.map);
  expect(got.ema?.map).toEqual(want.ema?.map);
  expect(Object.keys(got.optimizers ?? {}).sort()).toEqual(Object.keys(want.optimizers ?? {}).sort());
  for (const [k, o] of Object.entries(want.optimizers ?? {})) {
    expect(got.optimizers![k].step).toBe(o.step);
    expect(got.optimizers![k].m).toEqual(o.m);
    expect(got.optimizers![k].v).toEqual(o.v);
  }
  const files = Object.fromEntries(Object.entries(want.files ?? {}).map(([k, v]) => [k, typeof v === 'string' ? new TextEncoder().encode(v) : v]));
  expect(got.files).toEqual(files);
}

describe('writeFileAtomic, saveParams, loadParams', () => {
  it('replaces a file and leaves no temp file, even when the write fails', () => {
    const dir = freshDir();
    mkdirSync(dir);
    const path = join(dir, 'a.json');
    writeFileAtomic(path, 'one');
    writeFileAtomic(path, Uint8Array.from([116, 119, 111]));
    expect(readFileSync(path, 'utf8')).toBe('two');
    crash.calls = 0;
    crash.at = 1; // the write of the temp file dies half-way
    expect(() => writeFileAtomic(path, 'three, torn')).toThrow('simulated crash');
    crash.at = Number.POSITIVE_INFINITY;
    expect(readFileSync(path, 'utf8')).toBe('two');
    expect(readdirSync(dir)).toEqual(['a.json']);
  });

  it('F32 exactly, F16 rounded, errors name the file', () => {
    const dir = freshDir();
    mkdirSync(dir);
    const store = model(3);
    saveParams(join(dir, 'p.safetensors'), store, { metadata: { step: '7' } });
    expect(loadParams(join(dir, 'p.safetensors')).map).toEqual(store.map);
    saveParams(join(dir, 'h.safetensors'), store, { fp16: true });
    const half = loadParams(join(dir, 'h.safetensors'));
    for (const name of store.names()) {
      const a = store.get(name).data;
      const b = half.get(name).data;
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(Math.abs(a[i]) * 2 ** -11);
    }
    expect(() => loadParams(join(dir, 'nope.safetensors'))).toThrow(`${join(dir, 'nope.safetensors')}: file not found`);
    writeFileSync(join(dir, 'bad.safetensors'), 'not a safetensors file at all');
    expect(() => loadParams(join(dir, 'bad.safetensors'))).toThrow(`${join(dir, 'bad.safetensors')}: header length`);
  });
});

describe('checkpoint directory', () => {
  it('round trip, and a resumed run continues bit-exactly', () => {
    const dir = freshDir();
    const { ckpt, rng } = trained(5);
    saveCheckpoint(dir, ckpt);
    expect(readdirSync(dir).sort()).toEqual(['README.md', 'config.json', 'ema.safetensors', 'model.onnx', 'optimizer.safetensors', 'params.safetensors', 'state.json']);
    const back = loadCheckpoint(dir);
    expectSame(back, ckpt);

    const resumedRng = Rng.fromState(back.state.rng!);
    const g1 = gradients(ckpt.params, rng);
    const g2 = gradients(back.params, resumedRng);
    expect(g2).toEqual(g1);
    adamUpdate(ckpt.params, g1, ckpt.optimizers!.prior, { lr: 1e-2, weightDecay: 0.01 });
    adamUpdate(back.params, g2, back.optimizers!.prior, { lr: 1e-2, weightDecay: 0.01 });
    expect(back.params.map).toEqual(ckpt.params.map);
  });

  it('params only: no optimizer or EMA file', () => {
    const dir = freshDir();
    saveCheckpoint(dir, { config: [1, 2], params: model(2), state: { step: 0 } });
    const back = loadCheckpoint(dir);
    expect(back.optimizers).toBeUndefined();
    expect(back.ema).toBeUndefined();
    expect(back.files).toEqual({});
    expect(back.config).toEqual([1, 2]);
  });

  it('ignores a half-written save and the temp files it left', () => {
    const dir = freshDir();
    const a = trained(2).ckpt;
    saveCheckpoint(dir, a);
    // What a kill during the next save's writes leaves behind.
    mkdirSync(`${dir}.partial`);
    writeFileSync(join(`${dir}.partial`, 'config.json'), '{"model": ');
    writeFileSync(join(`${dir}.partial`, 'params.safetensors'), Uint8Array.from([8, 0, 0]));
    writeFileSync(join(root, '.stray.tmp-1-0'), 'x');
    expect(findCheckpoint(dir)).toBe(dir);
    expectSame(loadCheckpoint(dir), a);
    // A kill between moving the old checkpoint aside and renaming the new one into place.
    renameSync(dir, `${dir}.previous`);
    expect(findCheckpoint(dir)).toBe(`${dir}.previous`);
    expectSame(loadCheckpoint(dir), a);
    // The next save completes and tidies up.
    const b = trained(3).ckpt;
    saveCheckpoint(dir, b);
    expectSame(loadCheckpoint(dir), b);
    expect(existsSync(`${dir}.partial`)).toBe(false);
    expect(existsSync(`${dir}.previous`)).toBe(false);
  });

  it('a save killed at any file-system call leaves the old or the new checkpoint, never a mix', () => {
    const a = trained(2).ckpt;
    const b = trained(4).ckpt;
    const outcomes = { old: 0, new: 0 };
    for (let k = 1; ; k++) {
      const dir = freshDir();
      saveCheckpoint(dir, a);
      crash.calls = 0;
      crash.at = k;
      let died = false;
      try {
        saveCheckpoint(dir, b);
      } catch (e) {
        expect((e as Error).message).toBe('simulated crash');
        died = true;
      } finally {
        crash.at = Number.POSITIVE_INFINITY;
      }
      const got = loadCheckpoint(dir);
      expectSame(got, got.state.step === a.state.step ? a : b);
      outcomes[got.state.step === a.state.step ? 'old' : 'new']++;
      const c = trained(6).ckpt;
      saveCheckpoint(dir, c);
      expectSame(loadCheckpoint(dir), c);
      expect(existsSync(`${dir}.partial`) || existsSync(`${dir}.previous`)).toBe(false);
      if (!died) break;
    }
    console.log(`save killed at each of ${outcomes.old + outcomes.new - 1} fs calls: ${outcomes.old} kept the old checkpoint, ${outcomes.new - 1} the new one`);
    expect(outcomes.old).toBeGreaterThan(5);
  });

  it('a full disk names the folder and the room needed, and leaves no partial checkpoint', () => {
    const dir = freshDir();
    const a = trained(2).ckpt;
    saveCheckpoint(dir, a);
    crash.calls = 0;
    crash.at = 3; // rmSync of a stale .partial, mkdirSync, then the first write
    crash.code = 'ENOSPC';
    try {
      expect(() => saveCheckpoint(dir, trained(4).ckpt)).toThrow(/\.partial: the disk is full \([\d.]+ (kB|bytes) needed, [\d.]+ [kMGT]?B(ytes)? free\) — free some space, or write to another disk$/);
    } finally {
      crash.at = Number.POSITIVE_INFINITY;
      crash.code = undefined;
    }
    expect(existsSync(`${dir}.partial`)).toBe(false);
    expectSame(loadCheckpoint(dir), a);
  });

  it('refuses to replace a directory that is not a checkpoint', () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    expect(() => saveCheckpoint(dir, { config: {}, params: model(1), state: { step: 0 } })).toThrow(/exists and is not an unmask checkpoint/);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
    expect(() => loadCheckpoint(dir)).toThrow(`${dir}: no checkpoint here (no state.json)`);
    expect(() => saveCheckpoint(freshDir(), { config: {}, params: model(1), state: { step: 0 }, files: { 'state.json': '' } })).toThrow(/reserved/);
    expect(() => saveCheckpoint(freshDir(), { config: {}, params: model(1), state: { step: 0 }, files: { '../x': '' } })).toThrow(/not a plain file name/);
  });
});
