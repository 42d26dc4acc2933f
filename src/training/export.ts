// `unmask export`: a prior run as an inference-only model directory.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint, saveCheckpoint } from '../engine/checkpoint.ts';
import { decodeSafetensors, encodeSafetensors, paramsFromTensors, paramsToTensors } from '../engine/safetensors.ts';
import { PRIOR_KIND, TOKENIZER_FILE } from '../inference/model-format.ts';

/**
 * An inference-only copy of a prior run: the EMA weights as the parameters and the tokenizer, both in
 * float16 unless `fp16` is false, the config and the model card; no optimizer state.
 */
export function exportModel(run: string, out: string, fp16 = true, cardAppendix = ''): { bytes: number } {
  const ck = loadCheckpoint(run);
  const raw = ck.config as { kind?: string };
  if (raw.kind !== PRIOR_KIND) throw new Error(`${run} holds a ${raw.kind ?? 'unknown'} checkpoint, not a prior — export a run of unmask train prior`);
  const tok = ck.files?.[TOKENIZER_FILE];
  if (!tok) throw new Error(`${run} has no ${TOKENIZER_FILE}`);
  const tokenizer = paramsFromTensors(decodeSafetensors(tok as Uint8Array, join(run, TOKENIZER_FILE)).tensors);
  const files: Record<string, Uint8Array | string> = { [TOKENIZER_FILE]: encodeSafetensors(paramsToTensors(tokenizer, fp16 ? 'F16' : 'F32')) };
  for (const name of ['model-card.md', 'samples.png']) if (ck.files?.[name]) files[name] = ck.files[name];
  if (cardAppendix) files['model-card.md'] = `${new TextDecoder().decode(files['model-card.md'] as Uint8Array | undefined)}\n${cardAppendix}`;
  saveCheckpoint(out, { config: ck.config, params: ck.ema ?? ck.params, state: { step: ck.state.step }, files, fp16 });
  let bytes = 0;
  for (const f of ['params.safetensors', TOKENIZER_FILE]) bytes += statSync(join(out, f)).size;
  return { bytes };
}
