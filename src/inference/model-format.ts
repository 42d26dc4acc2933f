// The model directory format, shared by the code that writes model directories (training, export) and
// the code that reads them (Node and browser): checkpoint kinds, file names, and config.json's check.
// A leaf module: it imports nothing of unmask's, so readers and writers never import each other.

/** config.json's `kind` for a prior run or an exported model. */
export const PRIOR_KIND = 'unmask-prior';
/** config.json's `kind` for a VQGAN run. */
export const VQGAN_KIND = 'unmask-vqgan';
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

export class ModelError extends Error {
  override name = 'ModelError';
}

/** config.json of a model directory, checked to be a prior's (not a VQGAN run's). */
export function parseModelConfig(text: string, source: string): { kind: string; prior: unknown; tokenizer: unknown } {
  let raw: { kind?: string; prior?: unknown; tokenizer?: unknown };
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ModelError(`${source}: config.json is not JSON — pass a directory made by 'unmask train prior' or 'unmask export'`);
  }
  if (raw.kind !== PRIOR_KIND) {
    throw new ModelError(`${source} holds a ${raw.kind ?? 'unknown'} checkpoint, not a prior; pass a directory made by 'unmask train prior'`);
  }
  return { kind: raw.kind, prior: raw.prior, tokenizer: raw.tokenizer };
}
