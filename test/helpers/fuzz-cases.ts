// The seeded generator of bad command lines for test/cli/fuzz.test.ts: every command starts from a
// valid-looking line and gets one thing wrong — a number, a path, a model, an output, a combination of
// flags, a job too big for the machine. Each case is certain to be bad, so it must end in exit code 1
// with one line `unmask: <problem> — <fix>`, and write nothing.
import { Rng } from '../../src/engine/rng.ts';

/** The files a sandbox provides (paths relative to it). */
export const FILES = {
  model: 'model', // a tiny prior run: a complete model with optimizer state
  vqgan: 'vqgan', // a tiny VQGAN run
  exported: 'exported', // an exported model
  image: 'img.png', // a 40×24 RGB image
  codes: 'codes.json', // a valid 8×8 code grid
  config: 'config.json', // a valid VQGAN settings file
  folder: 'a-folder', // an empty folder
  busy: 'busy', // a folder with a file in it
  garbage: 'garbage.bin', // random bytes
  empty: 'empty.png', // zero bytes
  truncated: 'truncated.png', // the first 60 bytes of a PNG
  fifo: 'fifo', // a named pipe
  device: 'zero', // a character device (like /dev/zero), where mknod is allowed
  broken: 'broken', // model folders damaged in one way each: broken/<how>
};

/** Ways a model folder can be damaged; each is a folder under FILES.broken. */
export const BROKEN_MODELS = ['nan-prior', 'inf-tokenizer', 'extra-layers', 'missing-tensor', 'misshaped', 'config-not-json', 'config-array', 'no-tokenizer', 'empty-dir', 'no-config'] as const;

/** The damage that matters to a command reading only the tokenizer. */
const TOKENIZER_DAMAGE = new Set(['inf-tokenizer', 'config-not-json', 'config-array', 'no-tokenizer', 'empty-dir', 'no-config']);

export interface FuzzCase {
  kind: string;
  command: string;
  args: string[];
  /** Environment for the case (memory limits). */
  env?: Record<string, string>;
  /** Needs its own process: reading the input would block (FIFO) or never end (device) if it were read. */
  child?: boolean;
}

type FlagKind = 'int' | 'decimal' | 'nonnegative' | 'fraction' | 'size' | 'point' | 'box' | 'list' | 'numbers';

const BAD_VALUES: Record<FlagKind, string[]> = {
  int: ['0x10', '', ' 3', '1e3', '-1', '1.5', 'NaN', 'Infinity', '3abc', '99999999999999999999', '0b11', '+4', '٣', '1_000'],
  decimal: ['0x1', '', '-1', '0', 'Infinity', '1e999', 'abc', ' 1', '1,5', '.', 'e5'],
  nonnegative: ['0x1', '', '-1', 'Infinity', '1e999', 'abc', ' 1', '1,5', '.', 'e5'],
  fraction: ['0x1', '', '-0.5', '2', 'Infinity', 'abc', ' 0.5', '0,5', '.'],
  size: ['64', '64x', 'x32', '0x32', '64x32x1', '64*32', '', '0x10x0x10', '-64x64'],
  point: ['abc', '4', 'NaN,NaN', '', '-4,0', '1.5,2', '0x4,0'],
  box: ['1,2,3', 'a,b,c,d', '0,0,0,4', '', '1,2,3,4,5', '0x1,0,4,4'],
  list: ['4,,8', '4,x', '', '0x4', '4;8', '-4'],
  numbers: ['1,,2', '1,x', '', '0x1', '1;2', '-1', '1, 2'],
};

/** Values out of a flag's range, where it has one ("command --flag" where commands differ). */
const OUT_OF_RANGE: Record<string, string[]> = {
  'eval --n': ['1'], 'bench engine --runs': ['4'],
  '--n': ['0', '257'], '--scale': ['0', '17'], '--port': ['65536'], '--steps': ['0'], '--checkpoint-every': ['0'], '--batch': ['0'],
  '--layers': ['0'], '--dim': ['7'], '--heads': ['0'], '--seam': ['0'], '--stride': ['0'], '--tokens': ['0'], '--codebook': ['1'], '--k': ['0'], '--image-size': ['7'],
};

interface Spec {
  command: string[];
  /** A valid line: flag → value (true for a switch). */
  base: Record<string, string | true>;
  numbers?: Record<string, FlagKind>;
  /** Input flags → what they read. */
  inputs?: Record<string, 'image' | 'json' | 'model' | 'tokenizer' | 'served' | 'data' | 'torch' | 'features'>;
  /** Output flags → what they write. */
  outputs?: Record<string, 'image' | 'file' | 'frames' | 'run' | 'export' | 'report' | 'import' | 'saves'>;
  required?: string[];
  choices?: string[];
  /** Lines wrong in a way of their own. */
  conflicts?: string[][];
  oversize?: { args: string[]; env?: Record<string, string> }[];
}

const TASK_NUMBERS: Record<string, FlagKind> = { '--n': 'int', '--steps': 'int', '--temp': 'decimal', '--seed': 'int', '--scale': 'int', '--choice-temp': 'nonnegative', '--guidance': 'nonnegative' };
const task = (base: Record<string, string | true>, extra: Partial<Spec> = {}): Partial<Spec> => ({
  base: { '--model': FILES.model, '--n': '1', '--steps': '1', '--out': 'out.png', ...base },
  numbers: { ...TASK_NUMBERS, ...extra.numbers },
  inputs: { '--model': 'model', ...extra.inputs },
  outputs: { '--out': 'image', '--frames': 'frames' },
  choices: ['--schedule', '--precision'],
  oversize: [{ args: [], env: { UNMASK_MAX_MEMORY: '1kB' } }],
});

const SPECS: Spec[] = [
  { command: ['sample'], ...task({}), conflicts: [['--class', 'cat'], ['--guidance', '2']] } as Spec,
  { command: ['complete'], ...task({ '--in': FILES.image }, { inputs: { '--in': 'image' } }), required: ['--in'], conflicts: [['--keep', 'diagonal'], ['--keep', 'box:1,2'], ['--keep', 'box:30,0,20,8']] } as Spec,
  {
    command: ['inpaint'], ...task({ '--in': FILES.image, '--box': '12,4,16,16' }, { inputs: { '--in': 'image' }, numbers: { '--box': 'box' } }), required: ['--in'],
    conflicts: [['--mask', FILES.image], ['--box', '30,0,20,8']],
  } as Spec,
  { command: ['stitch'], ...task({ '--left': FILES.image, '--right': FILES.image }, { inputs: { '--left': 'image', '--right': 'image' }, numbers: { '--seam': 'int' } }), required: ['--left', '--right'], conflicts: [['--seam', '99']] } as Spec,
  {
    command: ['extend'], ...task({ '--size': '32x16' }, { numbers: { '--size': 'size', '--stride': 'int', '--at': 'point' } }), required: ['--size'],
    conflicts: [['--at', '0,0'], ['--size', '15x15'], ['--in', FILES.image, '--at', '3,0'], ['--in', FILES.image, '--at', '32,0']],
  } as Spec,
];
(SPECS.at(-1) as Spec).oversize!.push({ args: ['--size', '4096x4096'] }, { args: ['--size', '100000x100000'] });
SPECS.push(
  { command: ['likelihood'], base: { '--model': FILES.model, '--in': FILES.image }, numbers: { '--seed': 'int' }, inputs: { '--model': 'model', '--in': 'image' }, required: ['--in'] },
  { command: ['models'], base: {} },
  { command: ['reconstruct'], base: { '--model': FILES.model, '--in': FILES.image, '--out': 'out.png' }, inputs: { '--model': 'tokenizer', '--in': 'image' }, outputs: { '--out': 'image' }, required: ['--model', '--in', '--out'] },
  { command: ['encode'], base: { '--model': FILES.model, '--in': FILES.image, '--out': 'out.json' }, inputs: { '--model': 'tokenizer', '--in': 'image' }, outputs: { '--out': 'file' }, required: ['--model', '--in', '--out'] },
  {
    command: ['decode'], base: { '--model': FILES.model, '--in': FILES.codes, '--out': 'out.png' }, inputs: { '--model': 'tokenizer', '--in': 'json' }, outputs: { '--out': 'image' }, required: ['--model', '--in', '--out'],
    oversize: [{ args: ['--in', 'big-codes.json'] }],
  },
  {
    command: ['export'], base: { '--model': FILES.model, '--out': 'exp' }, inputs: { '--model': 'model', '--report': 'json' }, outputs: { '--out': 'export' }, required: ['--model', '--out'], choices: ['--format'],
    conflicts: [['--format', 'reference', '--fp32']],
  },
  { command: ['import'], base: { '--vqgan': FILES.garbage, '--out': 'imp' }, numbers: { '--heads': 'int', '--image-size': 'int' }, inputs: { '--vqgan': 'torch', '--prior': 'torch' }, outputs: { '--out': 'import' }, required: ['--vqgan', '--out'], choices: ['--preset'] },
  {
    command: ['train', 'vqgan'], base: { '--data': 'fashion', '--out': 'run', '--steps': '1' }, numbers: { '--steps': 'int', '--batch': 'int', '--seed': 'int', '--checkpoint-every': 'int' },
    inputs: { '--config': 'json', '--data': 'data' }, outputs: { '--out': 'run' }, required: ['--data', '--out'],
    conflicts: [['--resume'], ['--out', FILES.vqgan, '--resume', '--seed', '3'], ['--out', FILES.vqgan]],
    oversize: [{ args: ['--batch', '1000000000'] }],
  },
  {
    command: ['train', 'prior'], base: { '--vqgan': FILES.vqgan, '--data': 'fashion', '--out': 'run', '--steps': '1' },
    numbers: { '--layers': 'int', '--dim': 'int', '--heads': 'int', '--lr': 'decimal', '--warmup': 'int', '--ema': 'fraction', '--dropout': 'fraction', '--label-dropout': 'fraction', '--steps': 'int', '--batch': 'int', '--seed': 'int', '--checkpoint-every': 'int' },
    inputs: { '--vqgan': 'tokenizer', '--data': 'data' }, outputs: { '--out': 'run' }, required: ['--data', '--out'],
    conflicts: [['--preset', 'huge'], ['--resume'], ['--out', FILES.model, '--resume', '--layers', '4'], ['--out', FILES.model, '--resume', '--batch', '64'], ['--out', FILES.model, '--resume', '--preset', 'small'], ['--out', FILES.model, '--resume', '--vqgan', FILES.vqgan], ['--out', FILES.exported, '--resume'], ['--loss', 'nope'], ['--time-sampling', 'sometimes'], ['--dim', '30', '--heads', '4']],
  },
  {
    command: ['train', 'logsigma'], base: { '--model': FILES.model, '--data': 'fashion', '--out': 'fitted', '--steps': '1' },
    numbers: { '--steps': 'int', '--batch': 'int', '--lr': 'decimal', '--seed': 'int', '--val-images': 'int' }, inputs: { '--model': 'tokenizer', '--data': 'data' }, outputs: { '--out': 'report' },
    required: ['--model', '--data', '--out'], conflicts: [['--out', FILES.busy]],
  },
  { command: ['train', 'features'], base: { '--data': 'fashion', '--out': 'run', '--steps': '1' }, numbers: { '--steps': 'int', '--batch': 'int', '--seed': 'int' }, inputs: { '--data': 'data' }, outputs: { '--out': 'run' }, required: ['--data', '--out'], },
  {
    command: ['eval'], base: { '--model': FILES.model, '--data': 'fashion', '--out': 'report', '--n': '2', '--steps': '1' },
    numbers: { '--steps': 'list', '--n': 'int', '--temp': 'decimal', '--seed': 'int', '--batch': 'int', '--k': 'int', '--elbo-images': 'int', '--choice-temp': 'numbers', '--guidance': 'numbers' },
    inputs: { '--model': 'model', '--data': 'data', '--features': 'features', '--ar': 'model' }, outputs: { '--out': 'report' }, required: ['--model', '--data', '--out'], choices: ['--precision', '--reference'],
    conflicts: [['--schedule', 'random,nope'], ['--ar', FILES.model]],
  },
  { command: ['bench', 'engine'], base: {}, numbers: { '--runs': 'int' }, inputs: { '--reference': 'json' }, conflicts: [['--runs', '4']] },
  {
    command: ['bench', 'sample'], base: { '--layers': '1', '--dim': '32', '--heads': '2', '--tokens': '16', '--codebook': '8', '--batch': '1', '--steps': '1', '--runs': '1' },
    numbers: { '--layers': 'int', '--dim': 'int', '--heads': 'int', '--tokens': 'int', '--codebook': 'int', '--batch': 'int', '--steps': 'int', '--runs': 'int' }, choices: ['--precision'],
    conflicts: [['--steps', '99'], ['--schedule', 'nope'], ['--tokens', '15'], ['--dim', '30', '--heads', '4']],
    oversize: [{ args: ['--batch', '1000000000'] }, { args: ['--tokens', '1048576'] }],
  },
  { command: ['bench', 'decode'], base: { '--batch': '1', '--runs': '1' }, numbers: { '--batch': 'int', '--runs': 'int' }, inputs: { '--reference': 'json' }, oversize: [{ args: ['--batch', '100000'] }] },
  { command: ['bench', 'vqgan'], base: { '--batch': '1', '--runs': '1' }, numbers: { '--batch': 'int', '--runs': 'int' }, inputs: { '--reference': 'json' }, choices: ['--config'], oversize: [{ args: ['--batch', '100000000'] }] },
  // The server checks weights when the page asks for them (its own tests); here, what refuses it at start.
  { command: ['serve'], base: { '--port': '0' }, numbers: { '--port': 'int' }, inputs: { '--model': 'served' }, outputs: { '--out': 'saves' }, conflicts: [['--host', ''], ['--host', '0.0.0.0'], ['--host', '192.168.1.9']] },
);

/** Command names as `unmask` parses them ("train prior"), for the report. */
export const COMMANDS = SPECS.map((s) => s.command.join(' '));

function line(spec: Spec, change: Record<string, string | true | null>): string[] {
  const flags = { ...spec.base, ...change };
  const args = [...spec.command];
  for (const [flag, v] of Object.entries(flags)) {
    if (v === null) continue;
    args.push(flag);
    if (v !== true) args.push(v);
  }
  return args;
}

/** Bad paths for an input of `what`. */
function badInputs(what: string): { kind: string; path: string; child?: boolean }[] {
  const common = [
    { kind: 'input: missing', path: 'no/such/file.png' },
    { kind: 'input: FIFO', path: FILES.fifo, child: true },
    { kind: 'input: device', path: FILES.device, child: true },
  ];
  if (what === 'model' || what === 'tokenizer' || what === 'served') {
    // The server reads every served model in full at start, as a command that samples does.
    const broken = BROKEN_MODELS.filter((b) => what !== 'tokenizer' || TOKENIZER_DAMAGE.has(b)).map((b) => ({ kind: `model: ${b}`, path: `${FILES.broken}/${b}` }));
    return [...common, { kind: 'model: not a model', path: FILES.folder }, { kind: 'model: a file', path: FILES.image }, ...broken, ...(what === 'model' ? [{ kind: 'model: a VQGAN run', path: FILES.vqgan }] : [])];
  }
  if (what === 'data') return [{ kind: 'data: missing folder', path: 'no/such/folder' }, { kind: 'data: empty folder', path: FILES.folder }, { kind: 'data: a file', path: FILES.image }];
  const files = [...common, { kind: 'input: a folder', path: FILES.folder }, { kind: 'input: garbage', path: FILES.garbage }, { kind: 'input: empty file', path: FILES.empty }];
  return what === 'image' ? [...files, { kind: 'input: truncated PNG', path: FILES.truncated }] : files;
}

/** Bad places to write an output of `what`. */
function badOutputs(what: string, inputs: string[]): { kind: string; path: string }[] {
  const inside = `${FILES.model}/x.png`;
  switch (what) {
    case 'image':
    case 'file':
      return [
        { kind: 'output: a folder', path: FILES.folder },
        { kind: 'output: FIFO', path: FILES.fifo },
        { kind: 'output: device', path: FILES.device },
        { kind: 'output: inside a model', path: inside },
        ...inputs.map((path) => ({ kind: 'output: the input', path })),
        ...(what === 'image' ? [{ kind: 'output: wrong extension', path: 'out.gif' }, { kind: 'output: no extension', path: 'out' }] : []),
      ];
    case 'frames':
    case 'report':
    case 'saves':
      return [{ kind: 'output: a file for a folder', path: FILES.image }, { kind: 'output: inside a model', path: `${FILES.model}/frames` }];
    case 'run':
      return [{ kind: 'output: a file for a folder', path: FILES.image }, { kind: 'output: folder of other files', path: FILES.busy }, { kind: 'output: inside a model', path: `${FILES.model}/sub` }];
    case 'export':
      return [
        { kind: 'output: the run itself', path: FILES.model },
        { kind: 'output: another training run', path: FILES.vqgan },
        { kind: 'output: folder of other files', path: FILES.busy },
        { kind: 'output: existing model, no --force', path: FILES.exported },
        { kind: 'output: a file for a folder', path: FILES.image },
      ];
    default: // import
      return [{ kind: 'output: folder of other files', path: FILES.busy }, { kind: 'output: a file for a folder', path: FILES.image }];
  }
}

/** Every bad line the specs describe. */
function allCases(): FuzzCase[] {
  const out: FuzzCase[] = [];
  for (const spec of SPECS) {
    const command = spec.command.join(' ');
    const add = (kind: string, change: Record<string, string | true | null>, extra: Partial<FuzzCase> = {}) => out.push({ kind, command, args: line(spec, change), ...extra });
    for (const [flag, type] of Object.entries(spec.numbers ?? {})) {
      for (const v of BAD_VALUES[type]) add(`number: ${type}`, { [flag]: v });
      for (const v of OUT_OF_RANGE[`${command} ${flag}`] ?? OUT_OF_RANGE[flag] ?? []) add('number: out of range', { [flag]: v });
    }
    for (const flag of spec.required ?? []) add('flag: required missing', { [flag]: null });
    add('flag: unknown', { '--bogus-flag': true });
    add('flag: misspelt', { [`${Object.keys(spec.base)[0] ?? '--json'}x`]: '1' });
    for (const flag of spec.choices ?? []) add('flag: bad choice', { [flag]: 'nope' });
    const inputPaths = Object.entries(spec.inputs ?? {}).filter(([f]) => spec.base[f] !== undefined && ['image', 'json'].includes(spec.inputs![f])).map(([f]) => spec.base[f] as string);
    for (const [flag, what] of Object.entries(spec.inputs ?? {})) {
      for (const bad of badInputs(what)) add(bad.kind, { [flag]: bad.path }, { child: bad.child });
    }
    for (const [flag, what] of Object.entries(spec.outputs ?? {})) for (const bad of badOutputs(what, inputPaths)) add(bad.kind, { [flag]: bad.path });
    for (const extra of spec.conflicts ?? []) {
      const change: Record<string, string | true> = {};
      for (let i = 0; i < extra.length; i++) change[extra[i]] = extra[i + 1]?.startsWith('--') || extra[i + 1] === undefined ? true : extra[++i];
      add('flags: contradictory or impossible', change);
    }
    for (const o of spec.oversize ?? []) {
      const change: Record<string, string> = {};
      for (let i = 0; i < o.args.length; i += 2) change[o.args[i]] = o.args[i + 1];
      add('job: too big for the machine', change, { env: o.env });
    }
  }
  return out;
}

/** At most this many cases of a kind per command (the rest of a kind, all of them). */
const PER_COMMAND: Record<string, number> = { 'number: int': 4, 'number: decimal': 2, 'number: nonnegative': 2, 'number: fraction': 2, 'number: out of range': 2, model: 3, input: 4 };
/** At most this many cases of a kind in all: each needs its own process. */
const CHILD_CASES: Record<string, number> = { 'input: FIFO': 8, 'input: device': 4 };

/**
 * A seeded sample of the cases, so a run stays in the minutes: of the numerous kinds a few per
 * command (numbers, damaged models, bad input files), of those needing a process of their own a few
 * in all, and every case of the rest.
 */
export function fuzzCases(seed: number): FuzzCase[] {
  const rng = new Rng(seed);
  const all = allCases();
  const shuffled = Array.from(rng.permutation(all.length), (i) => all[i]);
  const taken = new Map<string, number>();
  const keep = (key: string, cap: number) => {
    const n = taken.get(key) ?? 0;
    taken.set(key, n + 1);
    return n < cap;
  };
  return shuffled.filter((c) => {
    if (c.kind in CHILD_CASES) return keep(c.kind, CHILD_CASES[c.kind]);
    const group = c.kind in PER_COMMAND ? c.kind : c.kind.split(':')[0];
    return group in PER_COMMAND ? keep(`${c.command}|${group}`, PER_COMMAND[group]) : true;
  });
}
