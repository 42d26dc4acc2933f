// The CLI shell: exit codes, one-line `unmask: <problem> — <fix>` errors (stack only with --debug), and
// the three forms of progress output. The launcher itself is run once, as a user would.
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { createProgress, formatSeconds } from '../../src/cli/progress.ts';

afterEach(() => vi.restoreAllMocks());

function sink(isTTY = false): Writable & { text: string; isTTY: boolean } {
  const w = new Writable({
    write(chunk, _enc, done) {
      w.text += String(chunk);
      done();
    },
  }) as Writable & { text: string; isTTY: boolean };
  w.text = '';
  w.isTTY = isTTY;
  return w;
}

describe('unmask CLI', () => {
  it('prints help and exits 0', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: unmask');
    expect(r.out).toContain('bench');
  });

  it('reports a bad option value as one line naming the fix, exit 1', async () => {
    const r = await cli('bench', 'engine', '--runs', '3');
    expect(r.code).toBe(1);
    expect(r.err).toBe("unmask: option '--runs <n>' argument '3' is invalid. --runs takes a whole number ≥ 5 in decimal digits, got '3' — see 'unmask bench engine --help'\n");
  });

  it('names the VQGAN presets bench vqgan knows, and the PyTorch run a reference must come from', async () => {
    const preset = await cli('bench', 'vqgan', '--config', 'ffhq');
    expect(preset.code).toBe(1);
    expect(preset.err).toBe("unmask: option '--config <preset>' argument 'ffhq' is invalid. Allowed choices are fashion, emoji — see 'unmask bench vqgan --help'\n");
    const ref = await cli('bench', 'vqgan', '--reference', '/nonexistent/ref.json');
    expect(ref.code).toBe(1);
    expect(ref.err).toBe('unmask: /nonexistent/ref.json: no such file — write it with /usr/bin/python3 bench/pytorch_vqgan.py --bench > /nonexistent/ref.json\n');
  });

  it('suggests the nearest command for a typo', async () => {
    const r = await cli('bnch');
    expect(r.code).toBe(1);
    expect(r.err).toBe("unmask: unknown command 'bnch' (Did you mean bench?) — see 'unmask --help'\n");
  });

  it('reports library errors in one line, with the stack only under --debug', async () => {
    const plain = await cli('bench', 'engine', '--reference', '/nonexistent/ref.jsonl');
    expect(plain.code).toBe(1);
    expect(plain.err).toBe('unmask: /nonexistent/ref.jsonl: no such file — write it with /usr/bin/python3 bench/pytorch_engine.py > /nonexistent/ref.jsonl\n');
    const debug = await cli('--debug', 'bench', 'engine', '--reference', '/nonexistent/ref.jsonl');
    expect(debug.code).toBe(1);
    expect(debug.err).toMatch(/^UnmaskError: .*\n\s+at /);
    expect(debug.err.trimEnd().split('\n').at(-1)).toBe(plain.err.trimEnd());
  });

  it('runs through the bin launcher', () => {
    const help = execFileSync(process.execPath, ['bin/unmask.js', 'bench', '--help'], { encoding: 'utf8' });
    expect(help).toContain('Usage: unmask bench');
    expect(help).toContain('engine');
  });
});

describe('progress', () => {
  it('writes plain lines with counts, ETA and values when not on a terminal', () => {
    const err = sink(false);
    const p = createProgress({ task: 'training', total: 4, err, intervalMs: 0 });
    p.update(1, { loss: 0.123456 });
    p.update(4, { loss: 0.1 });
    p.stop();
    const lines = err.text.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^training 1\/4 \(25%\) ETA \d+s loss 0\.1235$/);
    expect(lines[1]).toBe('training 4/4 (100%) loss 0.1000');
  });

  it('throttles plain lines to the interval, always printing the end', () => {
    const err = sink(false);
    const p = createProgress({ task: 't', total: 100, err, intervalMs: 60_000 });
    for (let i = 1; i <= 100; i++) p.update(i);
    expect(err.text).toBe('t 1/100 (1%) ETA 0s\nt 100/100 (100%)\n');
  });

  it('writes one JSON object per update with --json', () => {
    const out = sink(false);
    const p = createProgress({ task: 'sampling', total: 2, json: true, out });
    p.update(1, { step_ms: 12.5 });
    p.update(2);
    p.stop();
    const events = out.text.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(events.map(({ elapsed_s, ...e }) => (expect(elapsed_s).toBeGreaterThanOrEqual(0), e))).toEqual([
      { event: 'progress', task: 'sampling', done: 1, total: 2, step_ms: 12.5 },
      { event: 'progress', task: 'sampling', done: 2, total: 2 },
    ]);
  });

  it('draws a bar on a terminal', () => {
    const err = sink(true);
    const p = createProgress({ task: 'training', total: 10, err });
    p.update(5, { loss: 1.5 });
    p.stop();
    expect(err.text).toContain('training');
    expect(err.text).toContain('5/10');
    expect(err.text).toContain('loss 1.500');
  });

  it('formats durations', () => {
    expect([formatSeconds(4.4), formatSeconds(119.6), formatSeconds(3700)]).toEqual(['4s', '2m00s', '1h01m']);
  });
});
