// PyTorch's torch.save files of a state dict (a dict of tensors), read and written without Python.
//
// Zip format (PyTorch ≥ 1.6): entries stored uncompressed under one '<stem>/' prefix (the file's name
// when it was written; 'archive' since PyTorch 2): '<stem>/data.pkl' pickles the dict, each tensor a
// call _rebuild_tensor_v2(storage, offset, size, stride, …) whose storage is a persistent id
// ('storage', torch.<Type>Storage, key, location, numel) with its bytes in '<stem>/data/<key>';
// '<stem>/version' and, since PyTorch 2.1, '<stem>/byteorder'. Zip64 records appear in every file.
// Legacy format (the default before 1.6, `_use_new_zipfile_serialization=False` since): pickles in a
// row — a magic number, the protocol version 1001, system info, the dict (persistent ids carry one
// more field, a view that is always None for tensors), the list of storage keys — then for each key in
// that order its element count (int64) and its bytes. All data is little-endian.
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { checkInputFile } from '../engine/fs-errors.ts';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { f16BitsToF32 } from '../engine/safetensors.ts';
import { UnmaskError } from '../errors.ts';
import { PickleError, type PyGlobal, type PyValue, PickleWriter, unpickle } from './pickle.ts';

export class TorchFileError extends UnmaskError {
  override name = 'TorchFileError';
}

type Fail = (problem: string, fix?: string, cause?: unknown) => never;
const DAMAGED = 'the file is damaged or incomplete; download or copy it again';

export type TorchDtype = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64';

/** A tensor as read: floating types widened to float32 (exact for float16 and bfloat16), int64 kept. */
export type TorchTensor =
  | { dtype: Exclude<TorchDtype, 'int64'>; shape: number[]; data: Float32Array }
  | { dtype: 'int64'; shape: number[]; data: BigInt64Array };

export interface TorchStateDict {
  format: 'zip' | 'legacy';
  /** Tensors in the file's order. */
  tensors: Map<string, TorchTensor>;
}

/** The storage types a state dict of these models can hold, with their element sizes. */
const STORAGE_TYPES: Record<string, { dtype: TorchDtype; bytes: number }> = {
  'torch.FloatStorage': { dtype: 'float32', bytes: 4 },
  'torch.HalfStorage': { dtype: 'float16', bytes: 2 },
  'torch.BFloat16Storage': { dtype: 'bfloat16', bytes: 2 },
  'torch.DoubleStorage': { dtype: 'float64', bytes: 8 },
  'torch.LongStorage': { dtype: 'int64', bytes: 8 },
};

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
/** data.pkl of a state dict is a few hundred bytes per tensor; anything far larger is not one. */
const MAX_PICKLE_BYTES = 64 * 2 ** 20;

interface StorageRef {
  readonly key: string;
  readonly dtype: TorchDtype;
  readonly bytesPerElement: number;
  readonly numel: number;
}

interface TensorRef {
  readonly storage: StorageRef;
  readonly offset: number;
  readonly shape: number[];
  readonly stride: number[];
}

const isStorage = (v: PyValue): v is StorageRef => typeof v === 'object' && v !== null && 'bytesPerElement' in v;
const isTensor = (v: PyValue): v is TensorRef => typeof v === 'object' && v !== null && 'stride' in v && 'storage' in v;
const isCount = (v: PyValue): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isCounts = (v: PyValue): v is number[] => Array.isArray(v) && v.every(isCount);

/** Reads a torch.save file of a state dict; `label` (the file name) starts every error. */
export async function readTorchStateDict(path: string, label = path): Promise<TorchStateDict> {
  const fail: Fail = (problem, fix = DAMAGED, cause) => {
    throw new TorchFileError(`${label}: ${problem}`, fix, { cause });
  };
  const head = new Uint8Array(4);
  if (existsSync(path)) checkInputFile(path, 'a PyTorch checkpoint');
  try {
    const fd = openSync(path, 'r');
    try {
      readSync(fd, head, 0, 4, 0);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    return fail(`cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check the path', e);
  }
  const isZip = head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
  if (!isZip && head[0] !== 0x80) fail('is not a PyTorch checkpoint (neither torch.save\'s zip format nor its legacy pickle format)', 'pass the .th/.pt file that torch.save wrote');
  try {
    return isZip ? await readZip(path, fail) : readLegacy(new Uint8Array(readFileSync(path)), fail);
  } catch (e) {
    if (e instanceof PickleError) return fail(e.message, 'the file is damaged, or holds more than a state dict of tensors; save model.state_dict() alone', e);
    throw e;
  }
}

/** The pickle's globals: OrderedDict, the tensor rebuilders and the storage types, nothing else. */
function stateDictGlobals(): ReadonlyMap<string, PyGlobal> {
  const g = new Map<string, PyGlobal>();
  const add = (global: string, call?: (args: PyValue[]) => PyValue) => g.set(global, { global, call });
  add('collections.OrderedDict', (args) => {
    if (args.length) throw new PickleError('OrderedDict is rebuilt with arguments');
    return new Map();
  });
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  add('torch._utils._rebuild_tensor_v2', (args) => {
    const [storage, offset, shape, stride] = args;
    if (args.length < 6 || !isStorage(storage) || !isCount(offset) || !isCounts(shape) || !isCounts(stride) || shape.length !== stride.length) {
      throw new PickleError('_rebuild_tensor_v2 is called with arguments that are not (storage, offset, size, stride, …)');
    }
    return { storage, offset, shape, stride } satisfies TensorRef;
  });
  // nn.Parameter, in a dict saved with keep_vars=True: (tensor, requires_grad, backward_hooks).
  add('torch._utils._rebuild_parameter', (args) => {
    if (!isTensor(args[0])) throw new PickleError('_rebuild_parameter is called without a tensor');
    return args[0];
  });
  for (const name of Object.keys(STORAGE_TYPES)) add(name);
  return g;
}

/** The persistent-id resolver: one StorageRef per key, consistent wherever the key reappears. */
function storageResolver(legacy: boolean, storages: Map<string, StorageRef>): (pid: PyValue) => PyValue {
  return (pid) => {
    const fields = legacy ? 6 : 5;
    if (!Array.isArray(pid) || pid.length !== fields || pid[0] !== 'storage') throw new PickleError(`a persistent id that is not a tensor storage (${fields}-tuple 'storage', type, key, location, size)`);
    const [, type, key, , numel, view] = pid;
    const info = typeof type === 'object' && type !== null && 'global' in type ? STORAGE_TYPES[(type as PyGlobal).global] : undefined;
    if (!info) throw new PickleError(`a storage of type ${(type as PyGlobal)?.global ?? String(type)}; unmask reads ${Object.keys(STORAGE_TYPES).join(', ')}`);
    if (typeof key !== 'string' || !/^[A-Za-z0-9_]+$/.test(key) || !isCount(numel)) throw new PickleError('a storage with a bad key or size');
    if (legacy && view !== null) throw new PickleError('a storage view (legacy format); save the state dict with a current PyTorch');
    const seen = storages.get(key);
    if (seen && (seen.dtype !== info.dtype || seen.numel !== numel)) throw new PickleError(`storage ${key} appears with two types or sizes`);
    const ref = seen ?? { key, dtype: info.dtype, bytesPerElement: info.bytes, numel };
    storages.set(key, ref);
    return ref;
  };
}

/** The top-level value must be a dict of string → tensor. */
function tensorRefs(value: PyValue, fail: Fail): Map<string, TensorRef> {
  if (!(value instanceof Map)) fail('holds no dict of tensors (a state dict)', 'save model.state_dict(), not the model or a training state');
  const refs = new Map<string, TensorRef>();
  for (const [k, v] of value as Map<PyValue, PyValue>) {
    if (typeof k !== 'string') fail('has a state-dict key that is not a string');
    if (!isTensor(v)) fail(`entry '${k}' is not a tensor`, `save model.state_dict() alone`);
    refs.set(k as string, v as TensorRef);
  }
  return refs;
}

async function readZip(path: string, fail: Fail): Promise<TorchStateDict> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false, validateEntrySizes: true });
  } catch (e) {
    return fail(`is not a readable zip archive (${(e as Error).message})`, 'the file is truncated or damaged; download or copy it again', e);
  }
  try {
    const entries = new Map<string, yauzl.Entry>();
    for await (const entry of zip.eachEntry()) entries.set(entry.fileName, entry);
    const pickles = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pickles.length !== 1) fail(`holds ${pickles.length} '<name>/data.pkl' records; a torch.save file holds one`);
    const stem = pickles[0].slice(0, -'/data.pkl'.length);
    const byteorder = entries.get(`${stem}/byteorder`);
    if (byteorder && new TextDecoder().decode(await readEntry(zip, byteorder, 16, fail)).trim() !== 'little') fail('was saved on a big-endian machine', 'load and re-save it on a little-endian one');
    const storages = new Map<string, StorageRef>();
    const pkl = await readEntry(zip, entries.get(pickles[0])!, MAX_PICKLE_BYTES, fail);
    const { value, end } = unpickle(pkl, { globals: stateDictGlobals(), persistentLoad: storageResolver(false, storages) });
    if (end !== pkl.length) fail('has bytes after the end of data.pkl');
    const refs = tensorRefs(value, fail);
    const bytes = new Map<string, Uint8Array>();
    for (const s of storages.values()) {
      const entry = entries.get(`${stem}/data/${s.key}`);
      if (!entry) fail(`has no record ${stem}/data/${s.key} for storage ${s.key}`);
      const want = s.numel * s.bytesPerElement;
      if (entry!.uncompressedSize !== want) fail(`storage ${s.key} holds ${entry!.uncompressedSize} bytes, but its ${s.numel} ${s.dtype} elements take ${want}`);
      bytes.set(s.key, await readEntry(zip, entry!, want, fail));
    }
    return { format: 'zip', tensors: materialize(refs, bytes, fail) };
  } finally {
    zip.close();
  }
}

/** An entry's bytes, refusing entries over `limit` bytes. */
async function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, limit: number, fail: Fail): Promise<Uint8Array> {
  if (entry.uncompressedSize > limit) fail(`record ${entry.fileName} is ${entry.uncompressedSize} bytes, more than a state dict needs`);
  let stream: Readable;
  try {
    stream = await zip.openReadStreamPromise(entry);
  } catch (e) {
    return fail(`record ${entry.fileName} cannot be read (${(e as Error).message})`, DAMAGED, e);
  }
  const size = entry.uncompressedSize;
  const out = new Uint8Array(size);
  let at = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (at + chunk.length > size) fail(`record ${entry.fileName} is longer than its header says`);
      out.set(chunk, at);
      at += chunk.length;
    }
  } catch (e) {
    if (e instanceof TorchFileError) throw e;
    return fail(`record ${entry.fileName} cannot be read (${(e as Error).message})`, DAMAGED, e);
  }
  if (at !== size) fail(`record ${entry.fileName} ends after ${at} of ${size} bytes`);
  return out;
}

function readLegacy(file: Uint8Array, fail: Fail): TorchStateDict {
  const none = { globals: new Map<string, PyGlobal>() };
  const magic = unpickle(file, none);
  if (typeof magic.value !== 'bigint' || magic.value !== LEGACY_MAGIC) fail('starts with a pickle that is not PyTorch\'s magic number', 'pass the file torch.save wrote');
  const version = unpickle(file, { ...none, offset: magic.end });
  if (version.value !== LEGACY_PROTOCOL) fail(`has legacy protocol version ${String(version.value)}, not ${LEGACY_PROTOCOL}`);
  const info = unpickle(file, { ...none, offset: version.end });
  if (!(info.value instanceof Map) || info.value.get('little_endian') !== true) fail('was saved on a big-endian machine', 'load and re-save it on a little-endian one');
  const storages = new Map<string, StorageRef>();
  const main = unpickle(file, { globals: stateDictGlobals(), persistentLoad: storageResolver(true, storages), offset: info.end });
  const refs = tensorRefs(main.value, fail);
  const keys = unpickle(file, { ...none, offset: main.end });
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string' && storages.has(k)) || keys.value.length !== storages.size) {
    fail('has a storage key list that does not match its tensors');
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const bytes = new Map<string, Uint8Array>();
  let at = keys.end;
  for (const key of keys.value as string[]) {
    const s = storages.get(key)!;
    if (at + 8 > file.length) fail(`ends before storage ${key}`);
    const count = view.getBigInt64(at, true);
    if (count !== BigInt(s.numel)) fail(`storage ${key} holds ${count} elements where its tensors declare ${s.numel}`);
    const size = s.numel * s.bytesPerElement;
    if (at + 8 + size > file.length) fail(`storage ${key} holds ${file.length - at - 8} bytes, less than its ${s.numel} ${s.dtype} elements need (${size})`);
    bytes.set(key, file.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  if (at !== file.length) fail(`has ${file.length - at} bytes after its last storage`);
  return { format: 'legacy', tensors: materialize(refs, bytes, fail) };
}

/** Each tensor's elements, gathered from its storage through offset and strides into a dense array. */
function materialize(refs: Map<string, TensorRef>, bytes: Map<string, Uint8Array>, fail: Fail): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  for (const [name, t] of refs) {
    const s = t.storage;
    const count = t.shape.reduce((a, b) => a * b, 1);
    const last = count === 0 ? -1 : t.offset + t.shape.reduce((a, d, i) => a + (d - 1) * t.stride[i], 0);
    if (last >= s.numel) fail(`tensor '${name}' [${t.shape}] reaches element ${last} of storage ${s.key}, which holds ${s.numel}`);
    const raw = new Uint8Array(bytes.get(s.key)!); // an aligned copy
    const index = elementIndices(t, count);
    if (s.dtype === 'int64') {
      const src = new BigInt64Array(raw.buffer, 0, s.numel);
      out.set(name, { dtype: 'int64', shape: t.shape, data: BigInt64Array.from(index, (i) => src[i]) });
      continue;
    }
    const values = floatValues(s.dtype, raw, s.numel);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = values(index[i]);
    out.set(name, { dtype: s.dtype, shape: t.shape, data });
  }
  return out;
}

/** Storage positions of a tensor's elements in row-major order. */
function elementIndices(t: TensorRef, count: number): Int32Array | number[] {
  const out = new Int32Array(count);
  const rank = t.shape.length;
  const pos = new Array<number>(rank).fill(0);
  let at = t.offset;
  for (let i = 0; i < count; i++) {
    out[i] = at;
    for (let d = rank - 1; d >= 0; d--) {
      pos[d]++;
      at += t.stride[d];
      if (pos[d] < t.shape[d]) break;
      at -= pos[d] * t.stride[d];
      pos[d] = 0;
    }
  }
  return out;
}

function floatValues(dtype: Exclude<TorchDtype, 'int64'>, raw: Uint8Array, numel: number): (i: number) => number {
  switch (dtype) {
    case 'float32': {
      const a = new Float32Array(raw.buffer, 0, numel);
      return (i) => a[i];
    }
    case 'float64': {
      const a = new Float64Array(raw.buffer, 0, numel);
      return (i) => a[i];
    }
    case 'float16': {
      const a = new Uint16Array(raw.buffer, 0, numel);
      return (i) => f16BitsToF32(a[i]);
    }
    case 'bfloat16': {
      // bfloat16 is the top half of a float32.
      const a = new Uint16Array(raw.buffer, 0, numel);
      const bits = new Uint32Array(1);
      const f = new Float32Array(bits.buffer);
      return (i) => {
        bits[0] = a[i] << 16;
        return f[0];
      };
    }
  }
}

/** A tensor to write: float32 (as the reference trains) or int64 (BatchNorm's step count). */
export type TorchTensorOut = { shape: number[]; data: Float32Array } | { shape: number[]; data: BigInt64Array };

/**
 * A state dict in torch.save's zip format, as PyTorch 1.13 writes it: data.pkl (protocol 2), one
 * storage per tensor, contiguous, location 'cpu', and the format version record. `stem` is the
 * records' folder (torch.load does not care which). Same tensors in, same bytes out.
 */
export async function encodeTorchStateDict(tensors: Map<string, TorchTensorOut>, stem: string): Promise<Uint8Array> {
  const p = new PickleWriter().global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  const records: [string, Uint8Array][] = [];
  let key = 0;
  for (const [name, t] of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== count) throw new Error(`tensor '${name}' has ${t.data.length} values for shape [${t.shape}]`);
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    p.string(name).global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark().string('storage').global('torch', t.data instanceof BigInt64Array ? 'LongStorage' : 'FloatStorage').string(String(key)).string('cpu').int(count).tuple().persistentId();
    p.int(0).mark();
    for (const d of t.shape) p.int(d);
    p.tuple().mark();
    for (const s of stride) p.int(s);
    p.tuple().bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
    records.push([`${stem}/data/${key}`, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)]);
    key++;
  }
  const zip = new yazl.ZipFile();
  const mtime = new Date(2000, 0, 1); // fixed, so the same tensors give the same bytes
  zip.addBuffer(Buffer.from(p.setItems().finish()), `${stem}/data.pkl`, { compress: false, mtime });
  for (const [path, data] of records) zip.addBuffer(Buffer.from(data.buffer, data.byteOffset, data.byteLength), path, { compress: false, mtime });
  zip.addBuffer(Buffer.from('3\n'), `${stem}/version`, { compress: false, mtime });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) chunks.push(c);
  return new Uint8Array(Buffer.concat(chunks));
}
