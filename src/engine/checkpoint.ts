// Crash-safe checkpoint directories (Node only; safetensors.ts stays pure for the browser).
//
// A checkpoint is a directory:
//   config.json            the resolved config, any JSON (the caller validates it on load)
//   params.safetensors     model parameters and buffers, F32
//   optimizer.safetensors  Adam moments as '<optimizer>/m/<param>', '<optimizer>/v/<param>'; each
//                          optimizer's step in __metadata__ 'step:<optimizer>' (VQGAN training has two)
//   ema.safetensors        EMA weights, F32
//   state.json             step, RNG state, anything extra; written last
//   any extra files        exported .onnx graphs, a model card
// Saving writes a complete new directory at '<dir>.partial' (every file fsynced), moves the old one
// to '<dir>.previous', renames the new one into place and deletes the old. A kill at any point leaves
// either '<dir>' or '<dir>.previous' complete, and findCheckpoint/loadCheckpoint pick that one;
// a stale '<dir>.partial' is never read and is cleared by the next save. One writer per directory.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fsyncDir, writeFileAtomic, writeFileSynced } from './files.ts';
import { fsError, readRegularFile } from './fs-errors.ts';
import type { AdamState } from './optim.ts';
import type { ParamStore } from './params.ts';
import { type SafeMetadata, type SafeTensor, checkFinite, decodeSafetensors, encodeSafetensors, paramsFromTensors, paramsToTensors } from './safetensors.ts';
import { UnmaskError, firstLine } from '../errors.ts';

/** The fix for a checkpoint whose files do not fit together. */
const DAMAGED = 'the checkpoint is damaged; resume from a copy or start a new run';

export class CheckpointError extends UnmaskError {
  override name = 'CheckpointError';
}

export interface CheckpointState {
  /** Training steps completed. */
  step: number;
  /** Rng.state() of the training run's generator. */
  rng?: number[];
  /** Anything else the trainer needs to resume (loss history, time-sampler statistics), as JSON. */
  extra?: unknown;
}

export interface Checkpoint {
  config: unknown;
  params: ParamStore;
  optimizers?: Record<string, AdamState>;
  ema?: ParamStore;
  state: CheckpointState;
  /** Extra files by plain file name; loaded back as bytes. */
  files?: Record<string, Uint8Array | string>;
  /** Store params and EMA as float16 (half the size; for exported inference models). */
  fp16?: boolean;
}

const CONFIG = 'config.json';
const PARAMS = 'params.safetensors';
const OPTIMIZER = 'optimizer.safetensors';
const EMA = 'ema.safetensors';
const STATE = 'state.json';
const RESERVED = new Set([CONFIG, PARAMS, OPTIMIZER, EMA, STATE]);

/** The weights to sample with in the checkpoint folder `at`: the EMA's when it has them, else the parameters. */
export function samplingWeightsFile(at: string): string {
  return existsSync(join(at, EMA)) ? join(at, EMA) : join(at, PARAMS);
}

/** The weights to sample with in a loaded checkpoint: the EMA's when it has them, else the parameters. */
export function samplingWeights(ck: Checkpoint): ParamStore {
  return ck.ema ?? ck.params;
}

function readBytes(path: string): Uint8Array {
  if (!existsSync(path)) throw new CheckpointError(`${path}: file not found`, 'the checkpoint is incomplete; copy it again or start a new run');
  return readRegularFile(path, 'a checkpoint file');
}

function readJson(path: string): unknown {
  const text = new TextDecoder().decode(readBytes(path));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${path}: not valid JSON (${firstLine(e)})`, DAMAGED, { cause: e });
  }
}

/** Writes a ParamStore as a safetensors file, atomically. fp16 halves the size and rounds the values. */
export function saveParams(path: string, store: ParamStore, opts: { fp16?: boolean; metadata?: SafeMetadata } = {}): void {
  writeFileAtomic(path, encodeSafetensors(paramsToTensors(store, opts.fp16 ? 'F16' : 'F32'), opts.metadata));
}

/** Reads a safetensors file of F32/F16 tensors into a ParamStore (F16 widened to float32). */
export function loadParams(path: string): ParamStore {
  return paramsFromTensors(decodeSafetensors(readBytes(path), path).tensors, path);
}

function optimizersToTensors(optimizers: Record<string, AdamState>, params: ParamStore): { tensors: Record<string, SafeTensor>; metadata: SafeMetadata } {
  const tensors: Record<string, SafeTensor> = {};
  const metadata: SafeMetadata = {};
  for (const [opt, state] of Object.entries(optimizers)) {
    if (opt === '' || opt.includes('/')) throw new CheckpointError(`optimizer name '${opt}' is empty or contains '/'`, "name optimizers with letters, digits, '-' or '_'");
    metadata[`step:${opt}`] = String(state.step);
    for (const [moment, map] of [['m', state.m] as const, ['v', state.v] as const]) {
      for (const [name, data] of map) {
        // Keep the parameter's shape when it has one, so the file reads well in other tools.
        const shape = params.has(name) && params.get(name).data.length === data.length ? [...params.get(name).shape] : [data.length];
        tensors[`${opt}/${moment}/${name}`] = { dtype: 'F32', shape, data };
      }
    }
  }
  return { tensors, metadata };
}

function optimizersFromTensors(path: string): Record<string, AdamState> {
  const { tensors, metadata } = decodeSafetensors(readBytes(path), path);
  const out: Record<string, AdamState> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (!key.startsWith('step:')) continue;
    const step = Number(value);
    if (!Number.isSafeInteger(step) || step < 0) throw new CheckpointError(`${path}: ${key} is '${value}', not a step count`, DAMAGED);
    out[key.slice(5)] = { step, m: new Map(), v: new Map() };
  }
  for (const [key, t] of Object.entries(tensors)) {
    const parts = /^([^/]+)\/([mv])\/(.+)$/.exec(key);
    const state = parts ? out[parts[1]] : undefined;
    if (!parts || !state || t.dtype === 'I64') throw new CheckpointError(`${path}: unexpected tensor '${key}'`, DAMAGED);
    checkFinite(t.data, key, path);
    state[parts[2] as 'm' | 'v'].set(parts[3], t.data);
  }
  for (const [opt, state] of Object.entries(out)) {
    for (const name of state.m.keys()) {
      if (!state.v.has(name)) throw new CheckpointError(`${path}: optimizer '${opt}' has m but no v for '${name}'`, DAMAGED);
    }
    if (state.v.size !== state.m.size) throw new CheckpointError(`${path}: optimizer '${opt}' has v without m`, DAMAGED);
  }
  return out;
}

function isComplete(dir: string): boolean {
  return existsSync(join(dir, STATE));
}

/** The directory holding the latest complete checkpoint saved to `dir` (itself, or the '.previous' a killed save left), or null. */
export function findCheckpoint(dir: string): string | null {
  if (isComplete(dir)) return dir;
  if (isComplete(`${dir}.previous`)) return `${dir}.previous`;
  return null;
}

/** Whether `dir` holds a training run: a checkpoint with optimizer state, which --resume needs and nothing may replace. */
export function isTrainingRun(dir: string): boolean {
  const at = findCheckpoint(dir);
  return at !== null && existsSync(join(at, OPTIMIZER));
}

export function saveCheckpoint(dir: string, ckpt: Checkpoint): void {
  const partial = `${dir}.partial`;
  const previous = `${dir}.previous`;
  if (existsSync(dir) && !isComplete(dir) && readdirSync(dir).length > 0) {
    throw new CheckpointError(`${dir} exists and is not an unmask checkpoint (no ${STATE})`, 'choose another directory');
  }
  for (const name of Object.keys(ckpt.files ?? {})) {
    if (RESERVED.has(name) || !/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(name)) {
      throw new CheckpointError(`checkpoint file name '${name}' is reserved or not a plain file name`, `use a plain file name other than ${[...RESERVED].join(', ')}`);
    }
  }
  // A checkpoint never holds NaN or ±∞: the last good one is worth more than a diverged one.
  for (const [what, store] of [['params', ckpt.params], ['ema', ckpt.ema]] as const) {
    for (const [name, p] of store?.map ?? []) {
      if (!p.data.every(Number.isFinite)) throw new UnmaskError(`${dir}: not saved, tensor '${name}' of the ${what} holds NaN or infinite values`, 'the training diverged; resume from the last checkpoint with a lower learning rate');
    }
  }
  const files: [string, Uint8Array | string][] = [
    [CONFIG, `${JSON.stringify(ckpt.config, null, 2)}\n`],
    [PARAMS, encodeSafetensors(paramsToTensors(ckpt.params, ckpt.fp16 ? 'F16' : 'F32'))],
  ];
  if (ckpt.optimizers) {
    const { tensors, metadata } = optimizersToTensors(ckpt.optimizers, ckpt.params);
    files.push([OPTIMIZER, encodeSafetensors(tensors, metadata)]);
  }
  if (ckpt.ema) files.push([EMA, encodeSafetensors(paramsToTensors(ckpt.ema, ckpt.fp16 ? 'F16' : 'F32'))]);
  files.push(...Object.entries(ckpt.files ?? {}), [STATE, `${JSON.stringify(ckpt.state, null, 2)}\n`]);
  rmSync(partial, { recursive: true, force: true });
  try {
    mkdirSync(partial, { recursive: true });
    for (const [name, data] of files) writeFileSynced(join(partial, name), data);
    fsyncDir(partial);
  } catch (e) {
    // A full disk or a read-only folder: no half-written checkpoint is left taking the space.
    rmSync(partial, { recursive: true, force: true });
    const bytes = files.reduce((sum, [, data]) => sum + (typeof data === 'string' ? Buffer.byteLength(data) : data.length), 0);
    throw fsError(e, partial, 'write', bytes);
  }

  if (isComplete(dir)) {
    rmSync(previous, { recursive: true, force: true });
    renameSync(dir, previous);
  } else {
    rmSync(dir, { recursive: true, force: true }); // an empty directory
  }
  renameSync(partial, dir);
  fsyncDir(dirname(dir));
  rmSync(previous, { recursive: true, force: true });
}

/** state.json, checked: a step count ≥ 0 and an Rng state (four 32-bit words, and a cached normal deviate). */
function checkState(raw: unknown, path: string): CheckpointState {
  const fail = (problem: string): never => {
    throw new UnmaskError(`${path}: ${problem}`, 'the checkpoint is damaged; restore state.json from a copy, or start a new run');
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('not a JSON object');
  const state = raw as { step?: unknown; rng?: unknown; extra?: unknown };
  if (!Number.isSafeInteger(state.step) || (state.step as number) < 0) fail(`'step' is ${JSON.stringify(state.step)}, not a step count`);
  if (state.rng !== undefined) {
    const r = state.rng;
    const word = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 32;
    if (!Array.isArray(r) || (r.length !== 4 && r.length !== 5) || !r.slice(0, 4).every(word) || (r.length === 5 && !Number.isFinite(r[4]))) {
      fail(`'rng' is ${JSON.stringify(r).slice(0, 60)}, not a generator state (four 32-bit words)`);
    }
  }
  if (state.extra !== undefined && (typeof state.extra !== 'object' || state.extra === null || Array.isArray(state.extra))) fail("'extra' is not a JSON object");
  return state as CheckpointState;
}

/** Loads the latest complete checkpoint saved to `dir` (see findCheckpoint). */
export function loadCheckpoint(dir: string): Checkpoint {
  const at = findCheckpoint(dir);
  if (!at) throw new CheckpointError(`${dir}: no checkpoint here (no ${STATE})`, "pass a directory written by 'unmask train'");
  const state = checkState(readJson(join(at, STATE)), join(at, STATE));
  const files: Record<string, Uint8Array> = {};
  for (const name of readdirSync(at)) {
    if (!RESERVED.has(name) && statSync(join(at, name)).isFile()) files[name] = new Uint8Array(readBytes(join(at, name)));
  }
  const has = (name: string) => existsSync(join(at, name));
  return {
    config: readJson(join(at, CONFIG)),
    params: loadParams(join(at, PARAMS)),
    optimizers: has(OPTIMIZER) ? optimizersFromTensors(join(at, OPTIMIZER)) : undefined,
    ema: has(EMA) ? loadParams(join(at, EMA)) : undefined,
    state,
    files,
  };
}
