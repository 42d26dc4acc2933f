// `unmask export`: a prior run as an inference-only model directory.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint, samplingWeights, saveCheckpoint } from '../engine/checkpoint.ts';
import { decodeSafetensors, encodeSafetensors, paramsFromTensors, paramsToTensors } from '../engine/safetensors.ts';
import { ModelError, PRIOR_KIND, TOKENIZER_FILE, checkKind } from '../inference/model-format.ts';

/**
 * An inference-only copy of a prior run: the EMA weights as the parameters and the tokenizer, both in
 * float16 unless `fp16` is false, the config and the model card; no optimizer state.
 */
export function exportModel(run: string, out: string, fp16 = true, cardAppendix = ''): { bytes: number } {
  const ck = loadCheckpoint(run);
  checkKind(ck.config, PRIOR_KIND, run);
  const tok = ck.files?.[TOKENIZER_FILE];
  if (!tok) throw new ModelError(`${run} has no ${TOKENIZER_FILE}`, 'the run is incomplete; copy it again or train a new one');
  const tokenizer = paramsFromTensors(decodeSafetensors(tok as Uint8Array, join(run, TOKENIZER_FILE)).tensors);
  const files: Record<string, Uint8Array | string> = { [TOKENIZER_FILE]: encodeSafetensors(paramsToTensors(tokenizer, fp16 ? 'F16' : 'F32')) };
  for (const name of ['model-card.md', 'samples.png']) if (ck.files?.[name]) files[name] = ck.files[name];
  if (cardAppendix) files['model-card.md'] = `${new TextDecoder().decode(files['model-card.md'] as Uint8Array | undefined)}\n${cardAppendix}`;
  saveCheckpoint(out, { config: ck.config, params: samplingWeights(ck), state: { step: ck.state.step }, files, fp16 });
  let bytes = 0;
  for (const f of ['params.safetensors', TOKENIZER_FILE]) bytes += statSync(join(out, f)).size;
  return { bytes };
}
