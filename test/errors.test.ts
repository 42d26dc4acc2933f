// UnmaskError carries the problem and the fix apart, keeps its cause, and the CLI prints its fields —
// never a guess from message text — with the stack and every cause only under --debug.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.ts';
import { formatError } from '../src/cli/main.ts';
import { readImage } from '../src/data/png.ts';
import { UnmaskError } from '../src/errors.ts';
import { ModelError, parseModelConfig } from '../src/inference/model-format.ts';

describe('UnmaskError', () => {
  it('keeps problem, fix and cause apart, and reads as one line', () => {
    const cause = new SyntaxError('Unexpected token <');
    const e = new UnmaskError('m/config.json is not JSON', 'pass a model directory', { cause });
    expect(e).toBeInstanceOf(Error);
    expect([e.problem, e.fix, e.cause, e.message]).toEqual(['m/config.json is not JSON', 'pass a model directory', cause, 'm/config.json is not JSON — pass a model directory']);
  });

  it('is the base of the library errors, which keep their names', () => {
    const e = (() => {
      try {
        parseModelConfig('<html>', 'm');
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(ModelError);
    expect(e).toBeInstanceOf(UnmaskError);
    expect((e as ModelError).name).toBe('ModelError');
    expect((e as ModelError).cause).toBeInstanceOf(SyntaxError);
  });
});

describe('the CLI error line', () => {
  it('comes from the fields, whatever the message text holds', () => {
    expect(formatError(new UnmaskError('a — b', 'c'), false)).toBe('unmask: a — b — c\n');
    expect(formatError(new Error('looks like advice — but is a bug'), false)).toBe('unmask: looks like advice — but is a bug — rerun with --debug for details\n');
    expect(formatError(new UnmaskError('two\nlines', 'fix\n it'), false)).toBe('unmask: two lines — fix it\n');
  });

  it('shows the stack and the cause under --debug, the line last', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unmask-errors-'));
    const junk = join(dir, 'junk.png');
    writeFileSync(junk, 'not a png');
    const cause = await readImage(junk, { channels: 3 }).then(
      () => null,
      (e: UnmaskError) => e.cause,
    );
    expect(cause).toBeInstanceOf(Error);
    const plain = await cli('complete', '--model', 'fashion', '--in', junk, '--out', join(dir, 'out.png'));
    expect(plain.code).toBe(1);
    expect(plain.err).toMatch(/^unmask: .*junk\.png: not a readable image \(.*\) — give a PNG, JPEG or WebP file\n$/);
    const debug = await cli('--debug', 'complete', '--model', 'fashion', '--in', junk, '--out', join(dir, 'out.png'));
    expect(debug.err).toMatch(/^UnmaskError: .*junk\.png: not a readable image[^\n]*\n\s+at /);
    expect(debug.err).toContain(`caused by: Error: ${(cause as Error).message}`);
    expect(debug.err.trimEnd().split('\n').at(-1)).toBe(plain.err.trimEnd());
  });
});
