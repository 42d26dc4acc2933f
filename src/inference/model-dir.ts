// Model directories on disk (Node only): finding a model by name or path, listing the embedded ones,
// reading a model's files and loading it. The browser app fetches the same files over HTTP from
// `unmask serve`, which sends exactly the ones `modelFilePaths` names, and calls UnmaskModel.fromFiles.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { readRegularFile } from '../engine/fs-errors.ts';
import { UnmaskError, firstLine } from '../errors.ts';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCheckpoint, loadParams, samplingWeightsFile } from '../engine/checkpoint.ts';
import { decodeSafetensors, paramsFromTensors } from '../engine/safetensors.ts';
import type { ParamStore } from '../engine/params.ts';
import { type VqganConfig, parseVqganConfig } from '../models/vqgan-config.ts';
import { UnmaskModel } from './model.ts';
import { type ModelFiles, ModelError, PRIOR_KIND, TOKENIZER_FILE, VQGAN_KIND, checkKind, parseModelConfig } from './model-format.ts';
import { Tokenizer } from './tokenizer.ts';

/** The folder of models that ship with unmask. */
export const MODELS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models');
export const DEFAULT_MODEL = 'emoji';

/** The feature networks committed for the built-in data sets, so every report measures in the same space. */
export const FEATURES_DIR = join(MODELS_DIR, 'features');

/** models/features/<data>.onnx for a built-in data set, when it is there. */
export function committedFeatures(data: string): string | null {
  const file = join(FEATURES_DIR, `${data}.onnx`);
  return /^[a-z0-9]+$/.test(data) && existsSync(file) ? file : null;
}

/** A path to a model directory, or the name of an embedded one. */
export function resolveModel(nameOrPath: string): string {
  if (findCheckpoint(nameOrPath)) return nameOrPath;
  const embedded = join(MODELS_DIR, nameOrPath);
  if (/^[a-z0-9-]+$/.test(nameOrPath) && findCheckpoint(embedded)) return embedded;
  const names = listModels().map((m) => m.name);
  throw new ModelError(`no model '${nameOrPath}'`, `pass a run directory, or one of: ${names.length ? names.join(', ') : '(no embedded models installed)'}`);
}

export interface ModelInfo {
  name: string;
  dir: string;
  /** The first line of the model card after its title, if any. */
  summary: string;
  /** Class names of a class-conditional model (empty when unconditional). */
  classes: string[];
}

export function listModels(): ModelInfo[] {
  if (!existsSync(MODELS_DIR)) return [];
  return readdirSync(MODELS_DIR)
    .filter((name) => findCheckpoint(join(MODELS_DIR, name)))
    .sort()
    .map((name) => {
      const card = join(MODELS_DIR, name, 'model-card.md');
      const lines = existsSync(card) ? readFileSync(card, 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#')) : [];
      const config = JSON.parse(readFileSync(join(findCheckpoint(join(MODELS_DIR, name))!, 'config.json'), 'utf8')) as { prior?: { classes?: string[] } };
      return { name, dir: join(MODELS_DIR, name), summary: (lines[0] ?? '').replace(/^[-*]\s*/, ''), classes: config.prior?.classes ?? [] };
    });
}

/** A file of a model folder: missing means the folder is incomplete; a FIFO or folder in its place is refused. */
function readModelFile(path: string): Buffer {
  if (!existsSync(path)) throw new ModelError(`${path}: file not found`, 'the model directory is incomplete; export or copy it again');
  return readRegularFile(path, 'a model file');
}

/** config.json as a JSON object with a kind. */
function readConfig(path: string, dir: string): { kind?: string; tokenizer?: unknown } {
  let raw: unknown;
  try {
    raw = JSON.parse(readModelFile(path).toString('utf8'));
  } catch (e) {
    if (e instanceof UnmaskError) throw e;
    throw new ModelError(`${path} is not valid JSON (${firstLine(e)})`, 'restore the model folder from a copy, or train it again', { cause: e });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ModelError(`${path} is not a JSON object`, `restore ${dir} from a copy, or train it again`);
  return raw as { kind?: string; tokenizer?: unknown };
}

/**
 * A tokenizer's config and weights: a VQGAN run's EMA weights, or the copy inside a complete model;
 * `source` is the weights file, for errors.
 */
export function loadTokenizerWeights(nameOrPath: string): { config: VqganConfig; params: ParamStore; source: string } {
  const dir = resolveModel(nameOrPath);
  const at = findCheckpoint(dir)!;
  const raw = readConfig(join(at, 'config.json'), dir);
  if (raw.kind === VQGAN_KIND) {
    const weights = samplingWeightsFile(at);
    return { config: parseVqganConfig(checkKind(raw, VQGAN_KIND, dir)), params: loadParams(weights), source: weights };
  }
  if (raw.kind === PRIOR_KIND) {
    const file = join(at, TOKENIZER_FILE);
    return { config: parseVqganConfig(raw.tokenizer), params: paramsFromTensors(decodeSafetensors(new Uint8Array(readModelFile(file)), file).tensors, file), source: file };
  }
  throw new ModelError(`${dir} is not an unmask model (kind '${raw.kind ?? 'none'}')`, 'pass a run of unmask train vqgan or train prior');
}

/** The tokenizer of a VQGAN run (its EMA weights) or of a complete model. */
export function loadTokenizer(nameOrPath: string): Tokenizer {
  const { config, params, source } = loadTokenizerWeights(nameOrPath);
  return Tokenizer.fromParams(config, params, source);
}

export interface ModelFilePaths {
  /** The directory as named (run or embedded model). */
  dir: string;
  config: string;
  /** ema.safetensors of a training run, else params.safetensors. */
  weights: string;
  tokenizer: string;
  card: string | null;
}

/**
 * The files that make up the model named by `nameOrDir` (a run's latest complete checkpoint), after
 * checking that config.json describes a prior.
 */
export function modelFilePaths(nameOrDir: string): ModelFilePaths {
  const dir = resolveModel(nameOrDir);
  const at = findCheckpoint(dir);
  if (!at) throw new ModelError(`${dir} is not an unmask model (no state.json)`, "pass a directory made by 'unmask train prior' or listed by 'unmask models'");
  parseModelConfig(readModelFile(join(at, 'config.json')).toString('utf8'), dir);
  const card = join(at, 'model-card.md');
  return {
    dir,
    config: join(at, 'config.json'),
    weights: samplingWeightsFile(at),
    tokenizer: join(at, TOKENIZER_FILE),
    card: existsSync(card) ? card : null,
  };
}

export function readModelDir(nameOrDir: string): { dir: string; files: ModelFiles } {
  const p = modelFilePaths(nameOrDir);
  const read = readModelFile;
  return {
    dir: p.dir,
    files: {
      config: read(p.config).toString('utf8'),
      weights: read(p.weights),
      tokenizer: read(p.tokenizer),
      card: p.card ? read(p.card).toString('utf8') : null,
    },
  };
}

/** Loads an embedded model by name, or a prior run / exported model directory (EMA weights when present). */
export function loadModel(nameOrDir: string): UnmaskModel {
  const { dir, files } = readModelDir(nameOrDir);
  return UnmaskModel.fromFiles(dir, files);
}
