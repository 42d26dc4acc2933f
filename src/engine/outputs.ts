// Checks on the paths a command will write, made before any work starts (Node only), so that a bad
// path costs nothing and nothing the user had is lost: an output is never a folder, a device or a FIFO,
// never one of the command's inputs, never inside a model or training-run folder (whose next save
// replaces the whole folder), and its folder must be writable.
import { type Stats, accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { UnmaskError } from '../errors.ts';
import { findCheckpoint, isTrainingRun } from './checkpoint.ts';
import { describeKind, fsError } from './fs-errors.ts';

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** Whether two paths name the same file (after links), when both exist. */
function sameFile(a: string, b: string): boolean {
  const sa = statOrNull(a);
  const sb = statOrNull(b);
  return sa !== null && sb !== null && sa.dev === sb.dev && sa.ino === sb.ino;
}

/** The nearest folder at or above `path` that holds a checkpoint (state.json), or null. */
function enclosingCheckpoint(path: string): string | null {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'state.json'))) return dir;
    if (dirname(dir) === dir) return null;
  }
}

/** The nearest existing folder at or above `dir` must be a folder we may write in. */
function checkWritableFrom(dir: string, flag: string): void {
  let at = resolve(dir);
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  const st = statOrNull(at);
  if (st && !st.isDirectory()) throw new UnmaskError(`${flag} ${dir}: ${at} is ${describeKind(st)}, not a folder`, `choose another ${flag}`);
  try {
    accessSync(at, constants.W_OK);
  } catch (e) {
    throw fsError(e, at, 'write');
  }
}

/** Image formats unmask writes, by file extension. */
const IMAGE_FORMATS: Record<string, 'png' | 'jpeg' | 'webp'> = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp' };

/** The format an image file name asks for; any other name is refused, so the bytes always match the name. */
export function imageFormatOf(path: string, flag = '--out'): 'png' | 'jpeg' | 'webp' {
  const format = IMAGE_FORMATS[extname(path).toLowerCase()];
  if (!format) throw new UnmaskError(`${flag} ${path}: unmask writes .png, .jpg or .webp images, not '${extname(path) || 'a name without an extension'}'`, `end the name in .png, .jpg or .webp`);
  return format;
}

/**
 * A file the command will write: if it exists it must be a regular file and none of `inputs`; it may
 * not sit inside a model or run folder; its folder must be writable.
 */
export function checkOutputFile(path: string, flag: string, inputs: string[] = []): void {
  const st = statOrNull(path);
  if (st && !st.isFile()) throw new UnmaskError(`${flag} ${path} is ${describeKind(st)}, not a file`, `give ${flag} a file name`);
  const input = inputs.find((i) => sameFile(path, i) || resolve(path) === resolve(i));
  if (input !== undefined) throw new UnmaskError(`${flag} ${path} is also an input of this command; writing it would replace the input`, `choose another ${flag} file`);
  const run = enclosingCheckpoint(dirname(path));
  if (run) throw new UnmaskError(`${flag} ${path} is inside the model folder ${run}, whose next save would delete it`, `write it outside ${run}`);
  checkWritableFrom(dirname(path), flag);
}

/** A folder the command will write files into (a report, frames): a folder or nothing yet, not a model or run. */
export function checkOutputFolder(path: string, flag: string): void {
  const st = statOrNull(path);
  if (st && !st.isDirectory()) throw new UnmaskError(`${flag} ${path} is ${describeKind(st)}, not a folder`, `give ${flag} a folder`);
  const run = enclosingCheckpoint(path);
  if (run) throw new UnmaskError(`${flag} ${path} is inside the model folder ${run}, whose next save would replace it`, `choose a folder outside ${run}`);
  checkWritableFrom(path, flag);
}

/**
 * The folder a training run saves its checkpoints in: resuming needs a run there; a new run needs an
 * empty or missing folder (the first save would otherwise fail only after the first steps).
 */
export function checkRunFolder(path: string, flag: string, resume: boolean, resumable = true): void {
  const st = statOrNull(path);
  if (st && !st.isDirectory()) throw new UnmaskError(`${flag} ${path} is ${describeKind(st)}, not a folder`, `give ${flag} a folder for the run`);
  const at = findCheckpoint(path);
  if (resume) {
    if (!at) throw new UnmaskError(`--resume: ${path} holds no training run to continue`, `check ${flag}, or drop --resume to start a new run there`);
    if (!isTrainingRun(path)) throw new UnmaskError(`--resume: ${path} holds an exported model, without the optimizer state training needs`, 'resume the training run it was exported from, or start a new run');
  } else if (at) {
    throw new UnmaskError(`${path} already holds a training run`, resumable ? `pass --resume to continue it, or choose another ${flag}` : `choose another ${flag}`);
  } else if (st && readdirSync(path).length > 0) {
    throw new UnmaskError(`${flag} ${path} is a folder with other files in it`, `choose an empty or new folder for the run`);
  }
  const parent = enclosingCheckpoint(dirname(resolve(path)));
  if (parent) throw new UnmaskError(`${flag} ${path} is inside the model folder ${parent}, whose next save would delete it`, `choose a folder outside ${parent}`);
  checkWritableFrom(path, flag);
}

/**
 * Where `unmask export` writes: never the model it reads, never a training run (its optimizer state
 * is what --resume needs), never a folder of other things; an earlier export is replaced only with
 * `force`.
 */
export function checkExportFolder(out: string, model: string, force: boolean): void {
  const st = statOrNull(out);
  if (st && !st.isDirectory()) throw new UnmaskError(`--out ${out} is ${describeKind(st)}, not a folder`, 'give --out a folder for the model');
  if (resolve(out) === resolve(model) || sameFile(out, model)) throw new UnmaskError(`--out ${out} is the run being exported`, 'export into another folder');
  if (st && readdirSync(out).length > 0) {
    if (isTrainingRun(out)) throw new UnmaskError(`--out ${out} holds a training run (with the optimizer state --resume needs); export never replaces one, even with --force`, 'export into another folder');
    if (!findCheckpoint(out)) throw new UnmaskError(`--out ${out} is a folder with other files in it`, 'export into a new or empty folder');
    if (!force) throw new UnmaskError(`--out ${out} already holds a model`, 'pass --force to replace it (everything in that folder), or choose another folder');
  }
  const parent = enclosingCheckpoint(dirname(resolve(out)));
  if (parent) throw new UnmaskError(`--out ${out} is inside the model folder ${parent}, whose next save would delete it`, `choose a folder outside ${parent}`);
  checkWritableFrom(out, '--out');
}
