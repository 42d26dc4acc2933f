// `unmask export`: a prior run as an inference-only model directory.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint, samplingWeights, saveCheckpoint } from '../engine/checkpoint.ts';
import { checkExportFolder } from '../engine/outputs.ts';
import { decodeSafetensors, encodeSafetensors, paramsFromTensors, paramsToTensors } from '../engine/safetensors.ts';
import { ModelError, PRIOR_KIND, TOKENIZER_FILE, checkKind } from '../inference/model-format.ts';
import { checkWeights, priorShapes, tokenizerShapes } from '../inference/weights-check.ts';
import { type SamplingDefaults, parsePriorConfig } from '../models/prior-config.ts';
import { parseVqganConfig } from '../models/vqgan-config.ts';
import { LOG_SIGMA_PARAM } from '../models/vqgan.ts';

/**
 * An inference-only copy of a prior run: the EMA weights as the parameters and the tokenizer, both in
 * float16 unless `fp16` is false, the config and the model card; no optimizer state. `out` must be new
 * or empty, or an earlier export when `force` is set; never the run itself or another training run.
 * `sampling`, when given, is recorded as the settings the model recommends.
 */
export function exportModel(run: string, out: string, fp16 = true, cardAppendix = '', force = false, sampling: SamplingDefaults | null = null): { bytes: number } {
  checkExportFolder(out, run, force);
  const ck = loadCheckpoint(run);
  const config = checkKind(ck.config, PRIOR_KIND, run) as { prior?: unknown; tokenizer?: unknown };
  const tok = ck.files?.[TOKENIZER_FILE];
  if (!tok) throw new ModelError(`${run} has no ${TOKENIZER_FILE}`, 'the run is incomplete; copy it again or train a new one');
  const tokenizer = paramsFromTensors(decodeSafetensors(tok as Uint8Array, join(run, TOKENIZER_FILE)).tensors, join(run, TOKENIZER_FILE));
  // An export is a model others will trust: its config must describe its weights.
  checkWeights(samplingWeights(ck), priorShapes(parsePriorConfig(config.prior)), `${run} (prior weights)`);
  checkWeights(tokenizer, tokenizerShapes(parseVqganConfig(config.tokenizer), tokenizer.has(LOG_SIGMA_PARAM)), join(run, TOKENIZER_FILE));
  const files: Record<string, Uint8Array | string> = { [TOKENIZER_FILE]: encodeSafetensors(paramsToTensors(tokenizer, fp16 ? 'F16' : 'F32')) };
  for (const name of ['model-card.md', 'samples.png']) if (ck.files?.[name]) files[name] = ck.files[name];
  if (cardAppendix) files['model-card.md'] = `${new TextDecoder().decode(files['model-card.md'] as Uint8Array | undefined)}\n${cardAppendix}`;
  saveCheckpoint(out, { config: sampling ? { ...(ck.config as object), sampling } : ck.config, params: samplingWeights(ck), state: { step: ck.state.step }, files, fp16 });
  let bytes = 0;
  for (const f of ['params.safetensors', TOKENIZER_FILE]) bytes += statSync(join(out, f)).size;
  return { bytes };
}
