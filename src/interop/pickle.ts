// The part of Python's pickle format (protocols 2–4) that torch.save writes for a state dict, read
// strictly, and written for the same subset. A checkpoint is untrusted input: the reader knows only the
// opcodes a state dict uses and resolves only the globals its caller allows (torch's tensor rebuilders
// and storage types, collections.OrderedDict); anything else is refused by name, before any value is
// built from it. Nothing is ever executed: an allowed global is a TypeScript function the caller wrote.
// Opcode semantics: CPython Lib/pickle.py and Lib/pickletools.py.

export class PickleError extends Error {
  override name = 'PickleError';
}

/** A global named by the pickle and allowed by the caller; `call` runs on REDUCE with the argument tuple. */
export interface PyGlobal {
  readonly global: string;
  readonly call?: (args: PyValue[]) => PyValue;
}

/**
 * A Python value as read: None → null, bool, int (a number, or a bigint beyond ±2⁵³), str, tuple and
 * list → array, dict and OrderedDict → Map, an allowed global, or whatever an allowed call returned.
 */
export type PyValue = null | boolean | number | bigint | string | PyValue[] | Map<PyValue, PyValue> | PyGlobal | object;

export interface UnpickleOptions {
  /** The globals the pickle may name, by 'module.name'. */
  globals: ReadonlyMap<string, PyGlobal>;
  /** Resolves BINPERSID ids (torch's storages); without it a persistent id is refused. */
  persistentLoad?: (pid: PyValue) => PyValue;
  /** Where the pickle starts in the bytes (the legacy torch format holds several in a row). */
  offset?: number;
}

const OP = {
  PROTO: 0x80,
  FRAME: 0x95,
  STOP: 0x2e,
  MARK: 0x28,
  EMPTY_DICT: 0x7d,
  EMPTY_LIST: 0x5d,
  EMPTY_TUPLE: 0x29,
  TUPLE: 0x74,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  APPEND: 0x61,
  APPENDS: 0x65,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  MEMOIZE: 0x94,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  GLOBAL: 0x63,
  STACK_GLOBAL: 0x93,
  REDUCE: 0x52,
  BUILD: 0x62,
  BINPERSID: 0x51,
  NONE: 0x4e,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  LONG1: 0x8a,
  BINUNICODE: 0x58,
  SHORT_BINUNICODE: 0x8c,
} as const;

const OP_NAMES = new Map<number, string>(Object.entries(OP).map(([k, v]) => [v, k]));

/** Marks the stack position of a MARK opcode. */
const MARK = Symbol('mark');

/** Reads one pickle; returns its value and the offset just past its STOP. */
export function unpickle(bytes: Uint8Array, o: UnpickleOptions): { value: PyValue; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let pos = o.offset ?? 0;
  const stack: (PyValue | typeof MARK)[] = [];
  const memo = new Map<number, PyValue>();
  const lists = new WeakSet<PyValue[]>();
  let at = pos;
  const fail = (problem: string): never => {
    throw new PickleError(`pickle byte ${at}: ${problem}`);
  };
  const need = (n: number) => {
    if (pos + n > bytes.length) fail(`needs ${n} more byte(s) but the data ends at ${bytes.length} (truncated)`);
    const start = pos;
    pos += n;
    return start;
  };
  const u8 = () => bytes[need(1)];
  const u32 = () => view.getUint32(need(4), true);
  const text = (n: number) => {
    const start = need(n);
    try {
      return utf8.decode(bytes.subarray(start, start + n));
    } catch {
      return fail('a string is not valid UTF-8');
    }
  };
  /** A GLOBAL operand: one '\n'-terminated ASCII line. */
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 256) fail('a GLOBAL name has no line end');
    return text(end - pos + 1).slice(0, -1);
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) return fail('the stack is empty where a value was expected');
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) return fail('the stack is empty where a value was expected');
    return v;
  };
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail('no MARK before a MARK-terminated opcode');
    const items = stack.splice(i) as PyValue[];
    return items.slice(1);
  };
  const resolve = (name: string): PyGlobal => {
    const g = o.globals.get(name);
    if (!g) fail(`names the global ${name}, which a state dict never holds (only ${[...o.globals.keys()].join(', ')})`);
    return g!;
  };
  const setItems = (target: PyValue, items: PyValue[]) => {
    if (!(target instanceof Map)) fail('SETITEMS on something that is not a dict');
    if (items.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (target as Map<PyValue, PyValue>).set(items[i], items[i + 1]);
  };
  const appendItems = (target: PyValue, items: PyValue[]) => {
    if (!Array.isArray(target) || !lists.has(target)) fail('APPENDS on something that is not a list');
    (target as PyValue[]).push(...items);
  };

  for (;;) {
    at = pos;
    const op = u8();
    switch (op) {
      case OP.PROTO: {
        const v = u8();
        if (v < 2 || v > 4) fail(`pickle protocol ${v}; torch.save writes 2 (4 on request)`);
        break;
      }
      case OP.FRAME:
        need(8);
        break;
      case OP.STOP:
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack`);
        return { value: pop(), end: pos };
      case OP.MARK:
        stack.push(MARK);
        break;
      case OP.EMPTY_DICT:
        stack.push(new Map());
        break;
      case OP.EMPTY_LIST: {
        const l: PyValue[] = [];
        lists.add(l);
        stack.push(l);
        break;
      }
      case OP.EMPTY_TUPLE:
        stack.push([]);
        break;
      case OP.TUPLE:
        stack.push(popMark());
        break;
      case OP.TUPLE1:
      case OP.TUPLE2:
      case OP.TUPLE3: {
        const n = op - OP.TUPLE1 + 1;
        const items = Array.from({ length: n }, pop).reverse();
        stack.push(items);
        break;
      }
      case OP.SETITEM: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case OP.SETITEMS: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case OP.APPEND: {
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case OP.APPENDS: {
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case OP.BINPUT:
        memo.set(u8(), top());
        break;
      case OP.LONG_BINPUT:
        memo.set(u32(), top());
        break;
      case OP.MEMOIZE:
        memo.set(memo.size, top());
        break;
      case OP.BINGET:
      case OP.LONG_BINGET: {
        const i = op === OP.BINGET ? u8() : u32();
        if (!memo.has(i)) fail(`memo ${i} was never stored`);
        stack.push(memo.get(i)!);
        break;
      }
      case OP.GLOBAL: {
        const module = line();
        stack.push(resolve(`${module}.${line()}`));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolve(`${module}.${name}`));
        break;
      }
      case OP.REDUCE: {
        const args = pop();
        const fn = pop() as PyGlobal;
        if (!Array.isArray(args)) fail('REDUCE without an argument tuple');
        if (typeof fn !== 'object' || fn === null || !('global' in fn) || !fn.call) fail(`REDUCE calls ${(fn as PyGlobal)?.global ?? 'a value'}, which is not callable here`);
        stack.push(fn.call!(args as PyValue[]));
        break;
      }
      case OP.BUILD: {
        // OrderedDict's instance attributes (a state dict's `_metadata` of module versions): not needed.
        const state = pop();
        if (!(top() instanceof Map) || !(state instanceof Map)) fail('BUILD sets attributes of something other than a dict');
        break;
      }
      case OP.BINPERSID: {
        if (!o.persistentLoad) fail('a persistent id where none is allowed');
        stack.push(o.persistentLoad!(pop()));
        break;
      }
      case OP.NONE:
        stack.push(null);
        break;
      case OP.NEWTRUE:
        stack.push(true);
        break;
      case OP.NEWFALSE:
        stack.push(false);
        break;
      case OP.BININT:
        stack.push(view.getInt32(need(4), true));
        break;
      case OP.BININT1:
        stack.push(u8());
        break;
      case OP.BININT2:
        stack.push(view.getUint16(need(2), true));
        break;
      case OP.LONG1: {
        const n = u8();
        const start = need(n);
        stack.push(littleEndianSigned(bytes.subarray(start, start + n)));
        break;
      }
      case OP.BINUNICODE:
        stack.push(text(u32()));
        break;
      case OP.SHORT_BINUNICODE:
        stack.push(text(u8()));
        break;
      default:
        fail(`opcode 0x${op.toString(16).padStart(2, '0')}${OP_NAMES.has(op) ? ` (${OP_NAMES.get(op)})` : ''} is not one a state dict uses`);
    }
  }
}

/** LONG1's two's-complement little-endian bytes → a number when exact, else a bigint. */
function littleEndianSigned(b: Uint8Array): number | bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b.length && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Writes the same subset, protocol 2 (what torch.save writes by default). */
export class PickleWriter {
  private chunks: Uint8Array[] = [];
  private pending: number[] = [];

  constructor() {
    this.op(OP.PROTO, 2);
  }

  private op(...bytes: number[]): this {
    this.pending.push(...bytes);
    return this;
  }

  private flush(): void {
    if (this.pending.length) this.chunks.push(Uint8Array.from(this.pending));
    this.pending = [];
  }

  mark(): this {
    return this.op(OP.MARK);
  }

  /** Closes the items since the last mark() into a tuple. */
  tuple(): this {
    return this.op(OP.TUPLE);
  }

  emptyTuple(): this {
    return this.op(OP.EMPTY_TUPLE);
  }

  /** Adds the key/value pairs since the last mark() to the dict below them. */
  setItems(): this {
    return this.op(OP.SETITEMS);
  }

  global(module: string, name: string): this {
    this.op(OP.GLOBAL);
    this.flush();
    this.chunks.push(new TextEncoder().encode(`${module}\n${name}\n`));
    return this;
  }

  reduce(): this {
    return this.op(OP.REDUCE);
  }

  persistentId(): this {
    return this.op(OP.BINPERSID);
  }

  bool(v: boolean): this {
    return this.op(v ? OP.NEWTRUE : OP.NEWFALSE);
  }

  int(v: number): this {
    if (!Number.isSafeInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new PickleError(`cannot pickle ${v} as a 32-bit int`);
    if (v >= 0 && v < 256) return this.op(OP.BININT1, v);
    if (v >= 0 && v < 65536) return this.op(OP.BININT2, v & 0xff, v >>> 8);
    return this.op(OP.BININT, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }

  string(s: string): this {
    const b = new TextEncoder().encode(s);
    this.op(OP.BINUNICODE, b.length & 0xff, (b.length >>> 8) & 0xff, (b.length >>> 16) & 0xff, b.length >>> 24);
    this.flush();
    this.chunks.push(b);
    return this;
  }

  /** Ends the pickle and returns its bytes. */
  finish(): Uint8Array {
    this.op(OP.STOP);
    this.flush();
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
