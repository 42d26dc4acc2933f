// File-system problems reach the user as one line naming the path and the fix: errno codes in words
// (a full disk says how much room was needed), inputs that are not regular files refused before they
// are opened (a FIFO used to hang the command forever), a folder or a broken PNG called what it is.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { writeImage } from '../../src/data/png.ts';
import { fsError } from '../../src/engine/fs-errors.ts';
import { UnmaskError } from '../../src/errors.ts';
import { exportModel } from '../../src/training/export.ts';
import { cli } from '../helpers/cli.ts';
import { writePriorRun } from '../helpers/tiny-model.ts';

const root = mkdtempSync(join(tmpdir(), 'unmask-fs-'));
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) execFileSync('umount', [m]);
  rmSync(root, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

const errno = (code: string) => Object.assign(new Error(`${code}: simulated, write '/x'`), { code });

/** A tmpfs of `size` at a new folder (read-only with `ro`), or null where the platform does not allow mounting. */
function tmpfs(name: string, size: string, ro = false): string | null {
  const dir = join(root, name);
  mkdirSync(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}${ro ? ',ro' : ''}`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    console.log(`cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN): the ${name} case is left to the injected errors`);
    return null;
  }
  mounts.push(dir);
  return dir;
}

describe('errno codes in words', () => {
  it('names the path and what to do for each', () => {
    const say = (code: string, doing: 'read' | 'write', bytes?: number) => {
      const e = fsError(errno(code), 'out/x.png', doing, bytes);
      expect(e).toBeInstanceOf(UnmaskError);
      return (e as UnmaskError).message;
    };
    expect(say('ENOENT', 'read')).toBe('out/x.png: no such file or folder — check the path');
    expect(say('EACCES', 'write')).toBe('out/x.png: permission denied — choose a folder you can write to, or change its permissions');
    expect(say('EACCES', 'read')).toBe('out/x.png: permission denied — make it readable (chmod), or copy it somewhere you can read');
    expect(say('EROFS', 'write')).toBe('out/x.png: the file system is read-only — write to a folder on a writable disk');
    expect(say('ENOSPC', 'write', 8_400_000)).toMatch(/^out\/x\.png: the disk is full \(8\.4 MB needed, [\d.]+ [kMGT]?B(ytes)? free\) — free some space, or write to another disk$/);
    expect(say('EISDIR', 'read')).toBe('out/x.png: is a folder — give a file name');
    const other = new Error('something else');
    expect(fsError(other, 'p', 'read')).toBe(other);
  });
});

describe('inputs that are not regular files', () => {
  it('a folder or a broken image is called what it is', async () => {
    const dir = join(root, 'a-folder.png');
    mkdirSync(dir);
    const r = await cli('reconstruct', '--model', 'fashion', '--in', dir, '--out', join(root, 'r.png'));
    expect(r.code).toBe(1);
    expect(r.err).toBe(`unmask: ${dir} is a folder, not an image — give an image as a regular file\n`);
    const broken = join(root, 'broken.png');
    await writeImage(broken, { n: 1, channels: 1, height: 32, width: 32, data: new Float32Array(1024).fill(0.5) });
    const bytes = execFileSync('head', ['-c', '60', broken]);
    writeFileSync(broken, bytes);
    const t = await cli('reconstruct', '--model', 'fashion', '--in', broken, '--out', join(root, 'r.png'));
    expect(t.code).toBe(1);
    expect(t.err).toMatch(/^unmask: .*broken\.png: not a readable image \(.+\) — give a PNG, JPEG or WebP file\n$/);
    expect(existsSync(join(root, 'r.png'))).toBe(false);
  });

  it('a FIFO as any input is refused at once, never read (run as a user would, with a time limit)', async () => {
    const fifo = join(root, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const png = join(root, 'ok.png');
    await writeImage(png, { n: 1, channels: 1, height: 32, width: 32, data: new Float32Array(1024).fill(0.5) });
    const model = join(root, 'fifo-model');
    writePriorRun(model);
    rmSync(join(model, 'ema.safetensors'));
    execFileSync('mkfifo', [join(model, 'ema.safetensors')]);
    const cases = [
      ['inpaint', '--model', 'fashion', '--in', fifo, '--box', '0,0,8,8', '--out', join(root, 'o1.png')],
      ['inpaint', '--model', 'fashion', '--in', png, '--mask', fifo, '--out', join(root, 'o2.png')],
      ['decode', '--model', 'fashion', '--in', fifo, '--out', join(root, 'o3.png')],
      ['sample', '--model', model, '--out', join(root, 'o4.png')],
      ['train', 'vqgan', '--data', 'fashion', '--config', fifo, '--out', join(root, 'o5')],
    ];
    const run = promisify(execFile);
    const results = await Promise.all(
      cases.map((args) =>
        run(process.execPath, ['bin/unmask.js', ...args], { timeout: 60_000 }).then(
          () => ({ code: 0, err: '' }),
          (e: { code?: number; killed?: boolean; stderr?: string }) => ({ code: e.killed ? 'killed (hung)' : e.code, err: e.stderr ?? '' }),
        ),
      ),
    );
    results.forEach((r, i) => {
      expect(r.code, cases[i].join(' ')).toBe(1);
      expect(r.err).toMatch(/^unmask: .* is a named pipe \(FIFO\), not .* — give .* as a regular file\n$/);
    });
  });
});

describe('a full disk and a read-only one', () => {
  it('a read-only folder is refused before any work', async () => {
    const ro = tmpfs('ro', '1m', true);
    if (!ro) return;
    const r = await cli('sample', '--model', 'fashion', '--n', '1', '--steps', '1', '--out', join(ro, 'sub', 'x.png'));
    expect(r.code).toBe(1);
    expect(r.err).toBe(`unmask: ${ro}: the file system is read-only — write to a folder on a writable disk\n`);
  });

  it('a full disk names the path and the room needed, and leaves no partial checkpoint', async () => {
    const small = tmpfs('full', '64k');
    if (!small) return;
    const run = join(root, 'run-for-full');
    writePriorRun(run);
    const out = join(small, 'model');
    const r = await cli('export', '--model', run, '--out', out, '--fp32');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^unmask: ${out}\\.partial: the disk is full \\([\\d.]+ [kM]B needed, [\\d.]+ (kB|bytes) free\\) — free some space, or write to another disk\\n$`));
    expect(readdirSync(small)).toEqual([]);
    expect(() => exportModel(run, out)).toThrow(/the disk is full/);
    expect(readdirSync(small)).toEqual([]);
  });
});
