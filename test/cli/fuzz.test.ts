// A seeded fuzz of every command with bad input (test/helpers/fuzz-cases.ts): each case must end with
// exit code 1 and one line `unmask: <problem> — <fix>` on stderr (after any progress it printed) — no
// stack trace, no generic "rerun with --debug", nothing on stdout — write or change nothing in its
// sandbox, and finish within its limit. Cases whose input would block or never end if read (FIFOs,
// devices) run in a child process with a time limit; the rest run in-process. A report of how many
// cases of each kind ran is printed.
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { writeImage } from '../../src/data/png.ts';
import { Rng } from '../../src/engine/rng.ts';
import { exportModel } from '../../src/training/export.ts';
import { COMMANDS, FILES, type FuzzCase, fuzzCases } from '../helpers/fuzz-cases.ts';
import { withEditedConfig, withEditedTensors, writePriorRun, writeVqganRun } from '../helpers/tiny-model.ts';

const SEED = 14;
const IN_PROCESS_LIMIT_MS = 20_000;
const CHILD_LIMIT_MS = 60_000;
const REPO = resolve('.');
const sandbox = mkdtempSync(join(tmpdir(), 'unmask-fuzz-'));
afterAll(() => rmSync(sandbox, { recursive: true, force: true }));

/** The files every case may use (FILES), damaged models included. */
async function makeSandbox(): Promise<{ device: boolean }> {
  const at = (p: string) => join(sandbox, p);
  writePriorRun(at(FILES.model));
  writeVqganRun(at(FILES.vqgan));
  exportModel(at(FILES.model), at(FILES.exported));
  const rng = new Rng(SEED);
  await writeImage(at(FILES.image), { n: 1, channels: 3, height: 24, width: 40, data: new Float32Array(3 * 24 * 40).map(() => rng.next()) });
  const grid = (side: number) => JSON.stringify({ height: side, width: side, codes: Array.from({ length: side }, () => new Array(side).fill(0)) });
  writeFileSync(at(FILES.codes), grid(8));
  writeFileSync(at('big-codes.json'), grid(300));
  writeFileSync(at(FILES.config), '{"nf": 32}');
  mkdirSync(at(FILES.folder));
  mkdirSync(at(FILES.busy));
  writeFileSync(join(at(FILES.busy), 'notes.txt'), 'mine');
  writeFileSync(at(FILES.garbage), Uint8Array.from({ length: 4096 }, () => rng.int(256)));
  writeFileSync(at(FILES.empty), '');
  writeFileSync(at(FILES.truncated), (await import('node:fs')).readFileSync(at(FILES.image)).subarray(0, 60));
  execFileSync('mkfifo', [at(FILES.fifo)]);
  let device = true;
  try {
    execFileSync('mknod', [at(FILES.device), 'c', '1', '5'], { stdio: 'ignore' });
  } catch {
    device = false;
  }
  const broken = (how: string) => join(at(FILES.broken), how);
  const model = at(FILES.model);
  mkdirSync(at(FILES.broken));
  withEditedTensors(model, broken('nan-prior'), 'ema.safetensors', (t) => ((t['ln_f.weight'].data as Float32Array)[3] = Number.NaN));
  withEditedTensors(model, broken('inf-tokenizer'), 'tokenizer.safetensors', (t) => ((t['quantize.embedding.weight'].data as Float32Array)[0] = Number.POSITIVE_INFINITY));
  writePriorRun(join(sandbox, 'two-layers'), { layers: 2 });
  withEditedConfig(join(sandbox, 'two-layers'), broken('extra-layers'), (c) => (c.prior.layers = 1));
  withEditedTensors(model, broken('missing-tensor'), 'ema.safetensors', (t) => delete t['ln_f.weight']);
  withEditedTensors(broken('missing-tensor'), join(sandbox, 'scratch'), 'params.safetensors', (t) => delete t['ln_f.weight']);
  cpSync(join(sandbox, 'scratch', 'params.safetensors'), join(broken('missing-tensor'), 'params.safetensors'));
  withEditedConfig(model, broken('misshaped'), (c) => (c.prior.dim = 64));
  cpSync(model, broken('config-not-json'), { recursive: true });
  writeFileSync(join(broken('config-not-json'), 'config.json'), '{"kind": "unmask-prior", oops');
  cpSync(model, broken('config-array'), { recursive: true });
  writeFileSync(join(broken('config-array'), 'config.json'), '[]');
  cpSync(model, broken('no-tokenizer'), { recursive: true });
  rmSync(join(broken('no-tokenizer'), 'tokenizer.safetensors'));
  mkdirSync(broken('empty-dir'));
  cpSync(model, broken('no-config'), { recursive: true });
  rmSync(join(broken('no-config'), 'config.json'));
  return { device };
}

/** Every entry under the sandbox (but caches) with its type, size and modification time. */
function snapshot(dir = sandbox, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    if (name === '.cache') continue;
    const st = lstatSync(join(dir, name));
    out.set(prefix + name, `${st.mode}:${st.size}:${st.mtimeMs}`);
    if (st.isDirectory()) for (const [k, v] of snapshot(join(dir, name), `${prefix}${name}/`)) out.set(k, v);
  }
  return out;
}

interface Outcome {
  code: number | string;
  out: string;
  err: string;
  ms: number;
}

async function inProcess(c: FuzzCase): Promise<Outcome> {
  let out = '';
  let err = '';
  for (const [k, v] of Object.entries(c.env ?? {})) vi.stubEnv(k, v);
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<string>((done) => (timer = setTimeout(() => done(`no exit within ${IN_PROCESS_LIMIT_MS} ms`), IN_PROCESS_LIMIT_MS)));
  try {
    const code = await Promise.race([main(['node', 'unmask', ...c.args]), limit]);
    return { code, out, err, ms: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  }
}

function inChild(c: FuzzCase): Promise<Outcome> {
  const t0 = performance.now();
  return new Promise((done) => {
    execFile(process.execPath, [join(REPO, 'bin/unmask.js'), ...c.args], { cwd: sandbox, timeout: CHILD_LIMIT_MS, env: { ...process.env, ...c.env } }, (e, stdout, stderr) => {
      const code = e ? ((e as { killed?: boolean }).killed ? `killed after ${CHILD_LIMIT_MS} ms (hung)` : ((e as { code?: number }).code ?? 'error')) : 0;
      done({ code, out: stdout, err: stderr, ms: performance.now() - t0 });
    });
  });
}

/** What is wrong with an outcome, or null. */
function problem(o: Outcome, before: Map<string, string>): string | null {
  if (o.code !== 1) return `exit code ${o.code}`;
  if (/\n\s+at /.test(o.err)) return 'a stack trace';
  // Progress said before the failure (e.g. "reading x.th") may precede it; the error is the one last line.
  const lines = o.err.trimEnd().split('\n');
  if (!o.err.endsWith('\n') || !/^unmask: .+ — .+$/.test(lines.at(-1)!) || lines.filter((l) => l.startsWith('unmask:')).length !== 1) return 'not one last line `unmask: <problem> — <fix>`';
  if (o.err.includes('rerun with --debug')) return 'an internal error, not one the user can fix';
  if (o.out !== '') return 'output on stdout';
  const after = snapshot();
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k));
  if (changed.length) return `changed files: ${changed.slice(0, 4).join(', ')}`;
  return null;
}

describe('fuzzing every command with bad input', () => {
  it(`exits 1 with one line and a fix, writes nothing, and never hangs (seed ${SEED})`, async () => {
    const t0 = performance.now();
    const { device } = await makeSandbox();
    const cwd = process.cwd();
    process.chdir(sandbox);
    const cases = fuzzCases(SEED).filter((c) => device || !c.args.includes(FILES.device));
    const failures: string[] = [];
    const kinds = new Map<string, number>();
    const commands = new Map<string, number>();
    let slowest = 0;
    const record = (c: FuzzCase, o: Outcome, before: Map<string, string>) => {
      kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
      commands.set(c.command, (commands.get(c.command) ?? 0) + 1);
      slowest = Math.max(slowest, o.ms);
      const p = problem(o, before);
      if (p) failures.push(`[${c.kind}] unmask ${c.args.map((a) => (a === '' || /\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}: ${p}\n    ${o.err.trim().split('\n').slice(-3).join('\n    ')}`);
    };
    try {
      for (const c of cases.filter((x) => !x.child)) {
        const before = snapshot();
        record(c, await inProcess(c), before);
      }
      const children = cases.filter((x) => x.child);
      for (let i = 0; i < children.length; i += 4) {
        const batch = children.slice(i, i + 4);
        const before = snapshot();
        const outcomes = await Promise.all(batch.map(inChild));
        batch.forEach((c, j) => record(c, outcomes[j], before));
      }
    } finally {
      process.chdir(cwd);
    }
    const table = [...kinds.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${String(n).padStart(4)}  ${k}`);
    console.log(
      `fuzz (seed ${SEED}): ${cases.length} cases over ${commands.size} of ${COMMANDS.length} commands in ${((performance.now() - t0) / 1000).toFixed(1)} s, ` +
        `${cases.filter((c) => c.child).length} in child processes; slowest case ${(slowest / 1000).toFixed(1)} s${device ? '' : '; no device cases (mknod not permitted)'}\n` +
        `cases by kind:\n${table.join('\n')}\ncases by command: ${[...commands.entries()].map(([k, n]) => `${k} ${n}`).join(', ')}\n` +
        `${failures.length} failed${failures.length ? `:\n${failures.join('\n')}` : ''}`,
    );
    expect(commands.size).toBe(COMMANDS.length);
    expect(failures).toEqual([]);
  }, 600_000);
});
