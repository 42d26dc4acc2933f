// Writing files so that a crash never leaves a torn one (Node only): every file unmask writes for a
// user (checkpoints, images, reports, caches, code grids) goes through writeFileAtomic.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UnmaskError, firstLine } from '../errors.ts';
import { fsError } from './fs-errors.ts';

/** Writes `path` and flushes it to disk before returning. */
export function writeFileSynced(path: string, data: Uint8Array | string): void {
  const fd = openSync(path, 'w');
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Makes a rename or a new file durable. Windows cannot open a directory to fsync it; renames there are durable enough. */
export function fsyncDir(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

let tempCounter = 0;

/**
 * Replaces `path` all at once (creating its folder): a temp file in the same folder, fsync, rename.
 * Readers see the old file or the new one, never a torn one.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.tmp-${process.pid}-${tempCounter++}`);
  try {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
    writeFileSynced(temp, data);
    renameSync(temp, path);
    fsyncDir(dir);
  } catch (e) {
    rmSync(temp, { force: true });
    const said = fsError(e, path, 'write', typeof data === 'string' ? Buffer.byteLength(data) : data.length);
    throw said instanceof UnmaskError ? said : new UnmaskError(`${path}: cannot write (${firstLine(e)})`, 'check that the folder is writable and the disk has room', { cause: e });
  }
}
