// File-system problems said in words (Node only): errno codes become an UnmaskError naming the path and
// what to do, and an input that is not a regular file (a folder, a FIFO that would block a read forever,
// a device) is refused before anything opens it.
import { type Stats, accessSync, constants, existsSync, readFileSync, statSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UnmaskError, firstLine } from '../errors.ts';

/** What a path that is not a regular file is, in words. */
export function describeKind(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return st.isFile() ? 'a file' : 'not a regular file';
}

/** Bytes as "8.4 MB". */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${Math.round(v)} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** Free bytes for an unprivileged writer on the file system holding `path` (or its nearest existing folder), or null. */
export function freeSpace(path: string): number | null {
  let dir = resolve(path);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    const s = statfsSync(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

/**
 * An error from reading or writing `path` as an UnmaskError that names the path and the fix; `bytes`
 * (when writing) lets a full disk say how much room was needed. Anything that is not an errno we know
 * comes back as it was.
 */
export function fsError(e: unknown, path: string, doing: 'read' | 'write', bytes?: number): unknown {
  if (e instanceof UnmaskError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  const say = (problem: string, fix: string) => new UnmaskError(`${path}: ${problem}`, fix, { cause: e });
  switch (code) {
    case 'ENOENT':
      return doing === 'read' ? say('no such file or folder', 'check the path') : say('its folder does not exist', 'create the folder first, or check the path');
    case 'EACCES':
    case 'EPERM':
      return doing === 'read'
        ? say('permission denied', 'make it readable (chmod), or copy it somewhere you can read')
        : say('permission denied', 'choose a folder you can write to, or change its permissions');
    case 'EROFS':
      return say('the file system is read-only', 'write to a folder on a writable disk');
    case 'ENOSPC':
    case 'EDQUOT': {
      const free = freeSpace(path);
      const need = bytes === undefined ? '' : `${formatBytes(bytes)} needed, `;
      return say(`the disk is full (${need}${free === null ? 'free space unknown' : `${formatBytes(free)} free`})`, 'free some space, or write to another disk');
    }
    case 'EISDIR':
      return say('is a folder', 'give a file name');
    case 'ENOTDIR':
      return say('part of the path is a file, not a folder', 'check the path');
    case 'ENAMETOOLONG':
      return say('the name is too long', 'use a shorter path');
    case 'ELOOP':
      return say('too many symbolic links (a loop?)', 'check the links on the path');
    case 'EMFILE':
    case 'ENFILE':
      return say('too many open files', 'close other programs or raise the limit (ulimit -n)');
    case 'EIO':
      return say(`input/output error (${firstLine(e)})`, 'check the disk');
    default:
      return e;
  }
}

/**
 * Refuses an input that is missing, unreadable or not a regular file, before it is opened: reading a
 * FIFO would block forever, and a folder or device is never what a flag wants. `what` reads like
 * "an image" or "a safetensors file".
 */
export function checkInputFile(path: string, what: string): void {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw fsError(e, path, 'read');
  }
  if (!st.isFile()) throw new UnmaskError(`${path} is ${describeKind(st)}, not ${what}`, `give ${what} as a regular file`);
  try {
    accessSync(path, constants.R_OK);
  } catch (e) {
    throw fsError(e, path, 'read');
  }
}

/** Reads a whole regular file (refusing FIFOs, folders and devices first); errors name the path and the fix. */
export function readRegularFile(path: string, what: string): Buffer {
  checkInputFile(path, what);
  try {
    return readFileSync(path);
  } catch (e) {
    throw fsError(e, path, 'read');
  }
}

/** A JSON file, read whole and parsed; `fix` says what to do when it is not valid JSON. */
export function readJsonFile(path: string, what: string, fix: string): unknown {
  const text = readRegularFile(path, what).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UnmaskError(`${path}: not valid JSON (${firstLine(e)})`, fix, { cause: e });
  }
}
