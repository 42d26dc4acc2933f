// Nothing the user had is lost: every path a command writes is checked before work starts. Before
// these checks, `export --out` replaced a folder holding the user's notes, `export --model RUN --out
// RUN` deleted the run's optimizer state, `sample --out` replaced a device node, and `--out` equal to
// `--in` overwrote the input — all with exit code 0.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { writeImage } from '../../src/data/png.ts';
import { exportModel } from '../../src/training/export.ts';
import { cli } from '../helpers/cli.ts';
import { writePriorRun, writeVqganRun } from '../helpers/tiny-model.ts';

const root = mkdtempSync(join(tmpdir(), 'unmask-outputs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

let serial = 0;
const fresh = (name: string) => join(root, `${serial++}-${name}`);

/** Exit 1 with exactly one line `unmask: … — …`. */
function refused(r: { code: number; err: string }, message: RegExp): void {
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/^unmask: [^\n]+ — [^\n]+\n$/);
  expect(r.err).toMatch(message);
}

describe('export never replaces what it should not', () => {
  it('refuses a folder of other files, keeping them', async () => {
    const run = fresh('run');
    writePriorRun(run);
    const out = fresh('notes');
    mkdirSync(out);
    writeFileSync(join(out, 'my-notes.txt'), 'mine');
    refused(await cli('export', '--model', run, '--out', out), /is a folder with other files in it — export into a new or empty folder/);
    refused(await cli('export', '--model', run, '--out', out, '--force'), /with other files in it/);
    expect(readFileSync(join(out, 'my-notes.txt'), 'utf8')).toBe('mine');
  });

  it('refuses the run itself and any other training run, even with --force', async () => {
    const run = fresh('run');
    writePriorRun(run);
    const vq = fresh('vqgan');
    writeVqganRun(vq);
    refused(await cli('export', '--model', run, '--out', run), /is the run being exported/);
    refused(await cli('export', '--model', run, '--out', vq, '--force'), /holds a training run .*never replaces one, even with --force/);
    expect(existsSync(join(run, 'optimizer.safetensors'))).toBe(true);
    expect(existsSync(join(vq, 'optimizer.safetensors'))).toBe(true);
    expect(() => exportModel(run, run)).toThrow(/is the run being exported/);
  });

  it('replaces an earlier export only with --force', async () => {
    const run = fresh('run');
    writePriorRun(run);
    const out = fresh('exported');
    expect((await cli('export', '--model', run, '--out', out)).code).toBe(0);
    refused(await cli('export', '--model', run, '--out', out), /already holds a model — pass --force to replace it/);
    const again = await cli('export', '--model', run, '--out', out, '--force');
    expect(again.code).toBe(0);
    expect(again.err).toMatch(/^wrote /);
  });
});

describe('image outputs', () => {
  const sample = (...args: string[]) => cli('sample', '--model', 'fashion', '--n', '1', '--steps', '1', ...args);

  it('refuse folders, FIFOs and devices, leaving them as they were', async () => {
    const dir = fresh('dir.png');
    mkdirSync(dir);
    refused(await sample('--out', dir), /is a folder, not a file — give --out a file name/);
    const fifo = fresh('pipe.png');
    execFileSync('mkfifo', [fifo]);
    refused(await sample('--out', fifo), /is a named pipe \(FIFO\), not a file/);
    expect(statSync(fifo).isFIFO()).toBe(true);
    // A character device of our own (what /dev/null is), where the platform lets us make one.
    const device = fresh('null.png');
    try {
      execFileSync('mknod', [device, 'c', '1', '3'], { stdio: 'ignore' });
    } catch {
      console.log('mknod not permitted here: the device case is covered by the FIFO and folder cases');
      return;
    }
    refused(await sample('--out', device), /is a character device, not a file/);
    expect(statSync(device).isCharacterDevice()).toBe(true);
  });

  it('refuse the input itself and files inside a model folder', async () => {
    const input = fresh('in.png');
    await writeImage(input, { n: 1, channels: 1, height: 32, width: 32, data: new Float32Array(32 * 32).fill(0.25) });
    const before = readFileSync(input);
    refused(await cli('inpaint', '--model', 'fashion', '--in', input, '--box', '0,0,8,8', '--out', input), /is also an input of this command; writing it would replace the input/);
    refused(await cli('reconstruct', '--model', 'fashion', '--in', input, '--out', input), /is also an input/);
    expect(readFileSync(input).equals(before)).toBe(true);
    const run = fresh('run');
    writePriorRun(run);
    refused(await sample('--out', join(run, 'samples.png')), /is inside the model folder .*whose next save would delete it/);
  });

  it('write what the name says: real JPEG and WebP, or a refusal', async () => {
    const jpg = fresh('x.jpg');
    expect((await sample('--out', jpg)).code).toBe(0);
    expect((await sharp(jpg).metadata()).format).toBe('jpeg');
    const webp = fresh('x.webp');
    expect((await sample('--out', webp)).code).toBe(0);
    expect((await sharp(webp).metadata()).format).toBe('webp');
    refused(await sample('--out', fresh('x.gif')), /unmask writes \.png, \.jpg or \.webp images, not '\.gif'/);
    expect(existsSync(fresh('x.gif'))).toBe(false);
  });
});

describe('run folders', () => {
  it('a new run refuses a folder of other files before loading any data', async () => {
    const out = fresh('busy');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'x');
    const t0 = performance.now();
    refused(await cli('train', 'vqgan', '--data', 'fashion', '--out', out), /is a folder with other files in it — choose an empty or new folder/);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('--resume refuses a folder that holds no run, instead of starting a fresh one', async () => {
    const out = fresh('missing');
    refused(await cli('train', 'vqgan', '--data', 'fashion', '--out', out, '--resume'), /--resume: .* holds no training run to continue/);
    expect(existsSync(out)).toBe(false);
    const exported = fresh('exported');
    const run = fresh('run');
    writePriorRun(run);
    exportModel(run, exported);
    refused(await cli('train', 'prior', '--data', 'fashion', '--out', exported, '--resume'), /holds an exported model, without the optimizer state/);
  });
});
