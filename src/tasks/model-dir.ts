// Reading a model directory (Node only). The browser app fetches the same files over HTTP from
// `unmask serve`, which sends exactly the ones `modelFilePaths` names; its build puts src/web/node-only.ts
// in this module's place.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findCheckpoint } from '../engine/checkpoint.ts';
import { resolveModel } from './load.ts';
import { type ModelFiles, ModelError, TOKENIZER_FILE, parseModelConfig } from './model.ts';

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
  if (!at) throw new ModelError(`${dir} is not an unmask model (no state.json); pass a directory made by 'unmask train prior' or listed by 'unmask models'`);
  parseModelConfig(readFileSync(join(at, 'config.json'), 'utf8'), dir);
  const ema = join(at, 'ema.safetensors');
  const card = join(at, 'model-card.md');
  return {
    dir,
    config: join(at, 'config.json'),
    weights: existsSync(ema) ? ema : join(at, 'params.safetensors'),
    tokenizer: join(at, TOKENIZER_FILE),
    card: existsSync(card) ? card : null,
  };
}

export function readModelDir(nameOrDir: string): { dir: string; files: ModelFiles } {
  const p = modelFilePaths(nameOrDir);
  const read = (path: string): Buffer => {
    if (!existsSync(path)) throw new ModelError(`${path}: file not found — the model directory is incomplete; export or copy it again`);
    return readFileSync(path);
  };
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
