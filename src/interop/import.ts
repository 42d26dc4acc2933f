// `unmask import`: the reference implementation's checkpoints (its released 256-px models, or a team's
// own runs of its code) → an unmask model directory that every command, the library and the browser
// app load like one trained here. The checkpoints are read and checked completely before anything is
// written; the directory appears in one rename.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { saveCheckpoint } from '../engine/checkpoint.ts';
import type { ParamStore } from '../engine/params.ts';
import { encodeSafetensors, paramsToTensors } from '../engine/safetensors.ts';
import type { PriorConfig } from '../models/prior-config.ts';
import { TRANSFORMER_DEFAULTS } from '../models/transformer.ts';
import { VQGAN_256, type VqganConfig, latentSize } from '../models/vqgan-config.ts';
import { LOG_SIGMA_PARAM } from '../models/vqgan.ts';
import { PRIOR_KIND, TOKENIZER_FILE, VQGAN_KIND } from '../inference/model-format.ts';
import { InteropError, type Mapped, ReferenceModelError, priorFromReference, vqganFromReference } from './reference-model.ts';
import { type TorchStateDict, readTorchStateDict } from './torch-file.ts';

/** The released models (the reference's README links them): one architecture, three datasets. */
export const REFERENCE_PRESETS = {
  churches: { dataset: 'LSUN Churches', fid: 4.07, training: { lr: 2e-4, warmup: 10_000 } },
  bedrooms: { dataset: 'LSUN Bedrooms', fid: 3.64, training: { lr: 2e-4, warmup: 10_000 } },
  ffhq: { dataset: 'FFHQ', fid: 6.11, training: { lr: 1e-4, warmup: 30_000 } },
} as const;
export type PresetName = keyof typeof REFERENCE_PRESETS;
/** The released models' attention heads (a state dict cannot tell) and image size. */
const PRESET_HEADS = TRANSFORMER_DEFAULTS.heads;
const PRESET_IMAGE_SIZE = VQGAN_256.imageSize;

export interface ImportOptions {
  /** The reference VQGAN checkpoint (vqgan_ema_<step>.th). */
  vqgan: string;
  /** The reference absorbing-diffusion checkpoint (absorbing_ema_<step>.th); without it, a tokenizer alone is imported. */
  prior?: string;
  /** The model directory to create; it must not exist yet. */
  out: string;
  preset?: PresetName;
  heads?: number;
  imageSize?: number;
  /** Store float16 weights (half the size, rounded) instead of float32 (exact). */
  fp16?: boolean;
  /** One line per stage, for progress output. */
  onProgress?: (line: string) => void;
}

export interface ImportedFile {
  path: string;
  sha256: string;
  bytes: number;
  format: TorchStateDict['format'];
  /** Storage types of the tensors used. */
  dtypes: string[];
  /** Keys unmask does not use, in file order. */
  unused: string[];
}

export interface ImportResult {
  out: string;
  kind: typeof PRIOR_KIND | typeof VQGAN_KIND;
  tokenizer: VqganConfig;
  prior: PriorConfig | null;
  /** Whether the generator's log σ head came along (bits per dimension in `likelihood`). */
  logSigma: boolean;
  files: { vqgan: ImportedFile; prior: ImportedFile | null };
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function readFile(path: string, what: string, progress: (line: string) => void): Promise<{ sd: TorchStateDict; sha256: string; bytes: number }> {
  if (!existsSync(path) || !statSync(path).isFile()) throw new InteropError(`${what} ${path} not found`, `give the path of the reference's .th file`);
  const bytes = statSync(path).size;
  progress(`reading ${basename(path)} (${(bytes / 1e6).toFixed(1)} MB)`);
  const [sd, hash] = await Promise.all([readTorchStateDict(path), sha256(path)]);
  return { sd, sha256: hash, bytes };
}

/** Reading and mapping errors name the file they are about. */
function mapped<C>(path: string, f: () => Mapped<C>): Mapped<C> {
  try {
    return f();
  } catch (e) {
    if (e instanceof ReferenceModelError) throw new InteropError(`${path} ${e.problem}`, e.fix, { cause: e });
    throw e;
  }
}

/** The first difference between an inferred architecture and the released one. */
function presetMismatch(preset: PresetName, vq: VqganConfig, prior: PriorConfig | null): string | null {
  const want = { ...VQGAN_256, ...TRANSFORMER_DEFAULTS };
  const have: Record<string, unknown> = { channels: vq.channels, imageSize: vq.imageSize, nf: vq.nf, chMult: vq.chMult, resBlocks: vq.resBlocks, attnResolutions: vq.attnResolutions, codebookSize: vq.codebookSize, embDim: vq.embDim };
  if (prior) Object.assign(have, { dim: prior.dim, layers: prior.layers, blockSize: prior.latent * prior.latent });
  for (const [k, v] of Object.entries(have)) {
    const w = (want as Record<string, unknown>)[k];
    if (JSON.stringify(v) !== JSON.stringify(w)) return `${k} is ${JSON.stringify(v)} where the released ${preset} model has ${JSON.stringify(w)}`;
  }
  return null;
}

const count = (store: ParamStore) => {
  const n = store.count();
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n.toLocaleString('en-US');
};

/** Groups keys by their first two name parts for a short listing: "disc.main (11), perceptual.net (26)". */
export function summarizeKeys(keys: string[]): string {
  const groups = new Map<string, number>();
  for (const k of keys) {
    const g = k.includes('.conv_out.') ? 'idle ResBlock conv_out' : k.split('.').slice(0, 2).join('.');
    groups.set(g, (groups.get(g) ?? 0) + 1);
  }
  return [...groups].map(([g, n]) => `${g} (${n})`).join(', ');
}

function modelCard(o: ImportOptions, r: ImportResult, tok: Mapped<VqganConfig>, prior: Mapped<PriorConfig> | null): string {
  const vq = r.tokenizer;
  const latent = latentSize(vq);
  const preset = o.preset ? REFERENCE_PRESETS[o.preset] : null;
  const file = (f: ImportedFile) => `\`${basename(f.path)}\` — ${f.format} format, ${f.dtypes.join(' and ')} storages, ${(f.bytes / 1e6).toFixed(1)} MB, sha256 \`${f.sha256}\``;
  const lines = [
    `# ${preset ? `${preset.dataset} (the paper's released model)` : basename(o.out)}, imported from the reference implementation`,
    '',
    `Imported by \`unmask import\` from checkpoints of the reference PyTorch implementation of "Unleashing Transformers" (Bond-Taylor et al., ECCV 2022; samb-t/unleashing-transformers, MIT).`,
    '',
    `- VQGAN: ${file(r.files.vqgan)}.`,
    ...(r.files.prior ? [`- Prior: ${file(r.files.prior)}.`] : []),
    `- Tokenizer: ${vq.imageSize}×${vq.imageSize} images with ${vq.channels} channels ↔ ${latent}×${latent} codes from ${vq.codebookSize} of width ${vq.embDim}; nf ${vq.nf}, ch_mult [${vq.chMult.join(', ')}], ${vq.resBlocks} res block${vq.resBlocks === 1 ? '' : 's'} per level, attention at ${vq.attnResolutions.join(', ') || 'no'} px; ${count(tok.params)} parameters. Images go in and come out in [0, 1], as the reference feeds them.`,
    ...(prior ? [`- Prior: absorbing diffusion, transformer of ${prior.config.layers} layers, width ${prior.config.dim}, ${prior.config.heads} heads${o.preset ? ' (the released models\' setting)' : ' (as given with --heads)'}, ${latent * latent} positions, ${vq.codebookSize} codes + mask; ${count(prior.params)} parameters.`] : []),
    `- Weights stored as ${o.fp16 ? 'float16 (rounded from the checkpoint)' : 'float32 (exactly the checkpoint\'s values)'}.`,
    `- Likelihood head (the generator's log σ): ${r.logSigma ? 'imported, so `unmask likelihood` reports bits per dimension. The head is fitted only in files written by the reference\'s ELBO script (`vqgan_probabilistic_<step>.th`); training checkpoints carry it as initialised, a loose bound — fit it with `unmask train logsigma`.' : 'absent; `unmask likelihood` reports bits per token until `unmask train logsigma` fits one.'}`,
    `- Not imported (unmask does not use them): ${summarizeKeys([...r.files.vqgan.unused, ...(r.files.prior?.unused ?? [])]) || 'nothing'}.`,
  ];
  if (preset) lines.push(`- The paper reports FID ${preset.fid} for its ${preset.dataset} model (50k samples, temperature 0.9, Inception features); unmask has not measured it.`);
  return `${lines.join('\n')}\n`;
}

/** Imports the reference checkpoints into a new model directory; throws (and writes nothing) on any problem. */
export async function importReference(o: ImportOptions): Promise<ImportResult> {
  const progress = o.onProgress ?? (() => {});
  if (existsSync(o.out) && (!statSync(o.out).isDirectory() || readdirSync(o.out).length > 0)) {
    throw new InteropError(`${o.out} already exists`, `choose a new --out directory (import never overwrites)`);
  }
  const heads = o.heads ?? (o.preset ? PRESET_HEADS : undefined);
  if (o.prior && heads === undefined) throw new InteropError('a state dict does not record the number of attention heads', 'give --heads N (8 for the released models) or a --preset');
  // With a prior, its token grid fixes the image size (and the preset check compares it).
  const imageSize = o.imageSize ?? (o.preset && !o.prior ? PRESET_IMAGE_SIZE : undefined);

  const priorFile = o.prior ? await readFile(o.prior, 'prior', progress) : null;
  const prior = priorFile ? mapped(o.prior!, () => priorFromReference(priorFile.sd.tensors, { heads: heads!, training: o.preset ? REFERENCE_PRESETS[o.preset].training : undefined })) : null;
  const vqFile = await readFile(o.vqgan, 'VQGAN', progress);
  const tok = mapped(o.vqgan, () => vqganFromReference(vqFile.sd.tensors, { imageSize, latent: prior?.config.latent }));
  if (prior && prior.config.codebookSize !== tok.config.codebookSize) {
    throw new InteropError(`${o.prior} predicts ${prior.config.codebookSize} codes but the VQGAN in ${o.vqgan} has ${tok.config.codebookSize}`, `pass the VQGAN the prior was trained on`);
  }
  if (o.preset) {
    const problem = presetMismatch(o.preset, tok.config, prior?.config ?? null);
    if (problem) throw new InteropError(`these checkpoints are not the released ${o.preset} model's shape: ${problem}`, `drop --preset and give --heads and --image-size`);
  }

  const file = (path: string, f: { sd: TorchStateDict; sha256: string; bytes: number }, m: Mapped<unknown>): ImportedFile => ({ path, sha256: f.sha256, bytes: f.bytes, format: f.sd.format, dtypes: m.dtypes, unused: m.unused });
  const result: ImportResult = {
    out: o.out,
    kind: prior ? PRIOR_KIND : VQGAN_KIND,
    tokenizer: tok.config,
    prior: prior?.config ?? null,
    logSigma: tok.params.has(LOG_SIGMA_PARAM),
    files: { vqgan: file(o.vqgan, vqFile, tok), prior: prior ? file(o.prior!, priorFile!, prior) : null },
  };
  progress(`writing ${o.out}`);
  const card = modelCard(o, result, tok, prior);
  if (prior) {
    const tokenizer = encodeSafetensors(paramsToTensors(tok.params, o.fp16 ? 'F16' : 'F32'));
    saveCheckpoint(o.out, { config: { kind: PRIOR_KIND, prior: prior.config, tokenizer: tok.config }, params: prior.params, state: { step: 0 }, files: { [TOKENIZER_FILE]: tokenizer, 'model-card.md': card }, fp16: o.fp16 });
  } else {
    saveCheckpoint(o.out, { config: { kind: VQGAN_KIND, ...tok.config }, params: tok.params, state: { step: 0 }, files: { 'model-card.md': card }, fp16: o.fp16 });
  }
  return result;
}

/** The size of what an import wrote, for its summary line. */
export function weightBytes(out: string): number {
  return readdirSync(out).filter((f) => f.endsWith('.safetensors')).reduce((n, f) => n + statSync(join(out, f)).size, 0);
}
