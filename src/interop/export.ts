// `unmask export --format reference`: an unmask model → torch.save files in the reference
// implementation's layout, named as its training scripts save them (vqgan_ema_<step>.th,
// absorbing_ema_<step>.th), with its hyperparameters in hparams.json. PyTorch loads them with
// torch.load and load_state_dict; a model trained here can go on training on GPUs there, and come back
// through `unmask import`.
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { readJsonFile } from '../engine/fs-errors.ts';
import { join } from 'node:path';
import { findCheckpoint, loadParams, samplingWeightsFile } from '../engine/checkpoint.ts';
import { writeFileAtomic } from '../engine/files.ts';
import type { ParamStore } from '../engine/params.ts';
import { type PriorConfig, parsePriorConfig } from '../models/prior-config.ts';
import { type VqganConfig, parseVqganConfig } from '../models/vqgan-config.ts';
import { resolveModel } from '../inference/model-dir.ts';
import { PRIOR_KIND, TOKENIZER_FILE, VQGAN_KIND } from '../inference/model-format.ts';
import { vqganConfigOf } from '../training/train-vqgan.ts';
import { InteropError, priorToReference, referenceHparams, vqganToReference } from './reference-model.ts';
import { encodeTorchStateDict } from './torch-file.ts';

export interface ReferenceExport {
  out: string;
  /** The files written, in `out`. */
  files: string[];
}

/** Writes the reference-layout files of the model `nameOrDir` (a prior model or a VQGAN run) into `out`. */
export async function exportReference(nameOrDir: string, out: string): Promise<ReferenceExport> {
  const dir = resolveModel(nameOrDir);
  const at = findCheckpoint(dir)!;
  if (existsSync(out) && (!statSync(out).isDirectory() || readdirSync(out).length > 0)) {
    throw new InteropError(`${out} already exists`, `choose a new --out directory (export never overwrites)`);
  }
  const damaged = 'the model folder is damaged; restore it from a copy';
  const raw = readJsonFile(join(at, 'config.json'), 'a config file', damaged) as { kind?: string; prior?: unknown; tokenizer?: unknown };
  const step = (readJsonFile(join(at, 'state.json'), 'a state file', damaged) as { step: number }).step;
  let vq: VqganConfig;
  let vqParams: ParamStore;
  let prior: { config: PriorConfig; params: ParamStore } | null = null;
  if (raw.kind === PRIOR_KIND) {
    vq = parseVqganConfig(raw.tokenizer);
    vqParams = loadParams(join(at, TOKENIZER_FILE));
    prior = { config: parsePriorConfig(raw.prior), params: loadParams(samplingWeightsFile(at)) };
    if (prior.config.classes.length) {
      throw new InteropError(`${dir} is class-conditional (${prior.config.classes.length} classes), and the reference code has no class labels`, 'export an unconditional prior (trained without --labels)');
    }
  } else if (raw.kind === VQGAN_KIND) {
    vq = vqganConfigOf(raw, dir);
    // The EMA holds the autoencoder; the discriminator (and its BatchNorm statistics) only the parameters.
    const params = loadParams(join(at, 'params.safetensors'));
    vqParams = loadParams(samplingWeightsFile(at));
    for (const name of params.names().filter((n) => n.startsWith('disc.') && !vqParams.has(n))) vqParams.set(name, params.get(name).shape, params.get(name).data);
  } else {
    throw new InteropError(`${dir} holds a ${raw.kind ?? 'unknown'} checkpoint`, `export a model directory or a run of unmask train vqgan / train prior`);
  }
  mkdirSync(out, { recursive: true });
  const files: string[] = [];
  const write = async (name: string, tensors: Parameters<typeof encodeTorchStateDict>[0]) => {
    writeFileAtomic(join(out, `${name}.th`), await encodeTorchStateDict(tensors, name));
    files.push(`${name}.th`);
  };
  await write(`vqgan_ema_${step}`, vqganToReference(vq, vqParams));
  if (prior) await write(`absorbing_ema_${step}`, priorToReference(prior.config, prior.params));
  writeFileAtomic(join(out, 'hparams.json'), `${JSON.stringify(referenceHparams(vq, prior?.config ?? null), null, 2)}\n`);
  files.push('hparams.json');
  return { out, files };
}
