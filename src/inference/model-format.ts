// The model directory format, shared by the code that writes model directories (training, export) and
// the code that reads them (Node and browser): checkpoint kinds and their check, file names, and
// config.json's parsing.
// A leaf module (it imports only the error type), so readers and writers never import each other.
import { UnmaskError } from '../errors.ts';

/** config.json's `kind` for a prior run or an exported model. */
export const PRIOR_KIND = 'unmask-prior';
/** config.json's `kind` for a VQGAN run. */
export const VQGAN_KIND = 'unmask-vqgan';
/** config.json's `kind` for a feature network (`unmask train features`). */
export const FEATURES_KIND = 'unmask-features';

export type CheckpointKind = typeof PRIOR_KIND | typeof VQGAN_KIND | typeof FEATURES_KIND;

const KINDS: Record<CheckpointKind, { holds: string; command: string }> = {
  [PRIOR_KIND]: { holds: 'a prior', command: 'unmask train prior' },
  [VQGAN_KIND]: { holds: 'a VQGAN', command: 'unmask train vqgan' },
  [FEATURES_KIND]: { holds: 'a feature network', command: 'unmask train features' },
};
/** The copy of the tokenizer's weights inside a model directory. */
export const TOKENIZER_FILE = 'tokenizer.safetensors';

/** The contents of a model directory's files, however they were read. */
export interface ModelFiles {
  /** config.json's text. */
  config: string;
  /** The prior's weights: ema.safetensors of a training run, else params.safetensors. */
  weights: Uint8Array;
  /** tokenizer.safetensors. */
  tokenizer: Uint8Array;
  /** model-card.md, when there is one. */
  card?: string | null;
}

export class ModelError extends UnmaskError {
  override name = 'ModelError';
}

/** A checkpoint's config.json (parsed) without its `kind`, after checking that the kind is `kind`. */
export function checkKind(config: unknown, kind: CheckpointKind, source: string): Record<string, unknown> {
  const { kind: found, ...rest } = (config ?? {}) as { kind?: unknown };
  if (found !== kind) {
    throw new ModelError(`${source} holds a ${typeof found === 'string' ? found : 'unknown'} checkpoint, not ${KINDS[kind].holds}`, `pass a directory made by '${KINDS[kind].command}'`);
  }
  return rest;
}

/** config.json of a model directory, checked to be a prior's (not a VQGAN run's). */
export function parseModelConfig(text: string, source: string): { prior: unknown; tokenizer: unknown; sampling: unknown } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ModelError(`${source}: config.json is not JSON`, `pass a directory made by 'unmask train prior' or 'unmask export'`, { cause: e });
  }
  const { prior, tokenizer, sampling } = checkKind(raw, PRIOR_KIND, source);
  return { prior, tokenizer, sampling };
}
