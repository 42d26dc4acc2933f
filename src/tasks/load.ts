// Finding models: a run directory, or the name of an embedded model under models/.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCheckpoint, loadParams } from '../engine/checkpoint.ts';
import { decodeSafetensors, paramsFromTensors } from '../engine/safetensors.ts';
import { parseVqganConfig } from '../models/vqgan-config.ts';
import { Tokenizer } from './tokenizer.ts';
import { ModelError, PRIOR_KIND, TOKENIZER_FILE } from './model.ts';
import { VQGAN_KIND } from './train-vqgan.ts';

/** The folder of models that ship with unmask. */
export const MODELS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models');
export const DEFAULT_MODEL = 'emoji';

/** A path to a model directory, or the name of an embedded one. */
export function resolveModel(nameOrPath: string): string {
  if (findCheckpoint(nameOrPath)) return nameOrPath;
  const embedded = join(MODELS_DIR, nameOrPath);
  if (/^[a-z0-9-]+$/.test(nameOrPath) && findCheckpoint(embedded)) return embedded;
  const names = listModels().map((m) => m.name);
  throw new ModelError(`no model '${nameOrPath}' — pass a run directory, or one of: ${names.length ? names.join(', ') : '(no embedded models installed)'}`);
}

export interface ModelInfo {
  name: string;
  dir: string;
  /** The first line of the model card after its title, if any. */
  summary: string;
}

export function listModels(): ModelInfo[] {
  if (!existsSync(MODELS_DIR)) return [];
  return readdirSync(MODELS_DIR)
    .filter((name) => findCheckpoint(join(MODELS_DIR, name)))
    .sort()
    .map((name) => {
      const card = join(MODELS_DIR, name, 'model-card.md');
      const lines = existsSync(card) ? readFileSync(card, 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#')) : [];
      return { name, dir: join(MODELS_DIR, name), summary: (lines[0] ?? '').replace(/^[-*]\s*/, '') };
    });
}

/** The tokenizer of a VQGAN run (its EMA weights) or of a complete model. */
export function loadTokenizer(nameOrPath: string): Tokenizer {
  const dir = resolveModel(nameOrPath);
  const at = findCheckpoint(dir)!;
  const raw = JSON.parse(readFileSync(join(at, 'config.json'), 'utf8')) as { kind?: string; tokenizer?: unknown };
  if (raw.kind === VQGAN_KIND) {
    const { kind: _, ...config } = raw;
    const ema = join(at, 'ema.safetensors');
    return Tokenizer.fromParams(parseVqganConfig(config), loadParams(existsSync(ema) ? ema : join(at, 'params.safetensors')));
  }
  if (raw.kind === PRIOR_KIND) {
    const bytes = readFileSync(join(at, TOKENIZER_FILE));
    return Tokenizer.fromParams(parseVqganConfig(raw.tokenizer), paramsFromTensors(decodeSafetensors(new Uint8Array(bytes), join(at, TOKENIZER_FILE)).tensors));
  }
  throw new ModelError(`${dir} is not an unmask model (kind '${raw.kind ?? 'none'}') — pass a run of unmask train vqgan or train prior`);
}
