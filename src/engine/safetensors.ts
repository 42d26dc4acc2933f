// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length N, N bytes
// of JSON {name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__"?: {string: string}}
// padded with spaces to a multiple of 8, then the raw little-endian tensor bytes, offsets relative to
// the end of the header. Pure bytes in and out (no file system), so the browser can use it too.
// F16 is decoded to float32 and encoded with round-to-nearest-even.
import { UnmaskError } from '../errors.ts';
import { ParamStore } from './params.ts';

export type SafeDtype = 'F32' | 'F16' | 'I64';

export type SafeTensor =
  | { dtype: 'F32' | 'F16'; shape: number[]; data: Float32Array }
  | { dtype: 'I64'; shape: number[]; data: BigInt64Array };

export type SafeMetadata = Record<string, string>;

export class SafetensorsError extends UnmaskError {
  override name = 'SafetensorsError';
}

const BYTES: Record<SafeDtype, number> = { I64: 8, F32: 4, F16: 2 };
/** The Rust reference refuses headers above 100 MB; so do we, before parsing garbage as JSON. */
const MAX_HEADER = 100_000_000;
const METADATA_KEY = '__metadata__';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function assertLittleEndianHost(): void {
  if (!LITTLE_ENDIAN_HOST) throw new SafetensorsError('safetensors: big-endian hosts are not supported', 'run unmask on a little-endian machine (x86-64 or ARM)');
}

function elementCount(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Serialises tensors (and optional string metadata). Data is laid out in order of element size, then
 * name, so every tensor starts at an offset aligned to its element size.
 */
export function encodeSafetensors(tensors: Record<string, SafeTensor>, metadata?: SafeMetadata): Uint8Array {
  assertLittleEndianHost();
  const names = Object.keys(tensors).sort((a, b) => BYTES[tensors[b].dtype] - BYTES[tensors[a].dtype] || (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    if (name === METADATA_KEY || name === '') throw new SafetensorsError(`safetensors: '${name}' cannot be a tensor name`, `name tensors with a non-empty string other than ${METADATA_KEY}`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError(`safetensors: tensor '${name}' has a bad shape [${t.shape}]`, 'give whole, non-negative dimensions');
    const wantArray = t.dtype === 'I64' ? t.data instanceof BigInt64Array : t.data instanceof Float32Array;
    if (!(t.dtype in BYTES) || !wantArray) throw new SafetensorsError(`safetensors: tensor '${name}' has dtype ${t.dtype} with a ${t.data?.constructor?.name}`, 'store F32 and F16 tensors as Float32Array and I64 as BigInt64Array');
    if (t.data.length !== elementCount(t.shape)) {
      throw new SafetensorsError(`safetensors: tensor '${name}' has ${t.data.length} values for shape [${t.shape}]`, 'give as many values as the shape holds');
    }
    const size = t.data.length * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  const base = 8 + headerLen;
  for (const name of names) {
    const t = tensors[name];
    const at = base + (header[name] as { data_offsets: number[] }).data_offsets[0];
    if (t.dtype === 'F16') out.set(new Uint8Array(f32ToF16(t.data).buffer), at);
    else out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
  }
  return out;
}

/** Parses and validates a safetensors buffer; `source` (a file name) prefixes every error. */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): { tensors: Record<string, SafeTensor>; metadata: SafeMetadata } {
  assertLittleEndianHost();
  const fail = (problem: string): never => {
    throw new SafetensorsError(`${source}: ${problem}`, 'the file is damaged or not a safetensors file; write it again');
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes is too short for a safetensors file`);
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(Math.min(bytes.length - 8, MAX_HEADER))) {
    fail(`header length ${headerLen} does not fit in a ${bytes.length}-byte file (not a safetensors file, or truncated)`);
  }
  const base = 8 + Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, base)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const entries = header as Record<string, unknown>;
  const dataLen = bytes.length - base;

  const metadata: SafeMetadata = {};
  const rawMeta = entries[METADATA_KEY];
  if (rawMeta !== undefined) {
    if (typeof rawMeta !== 'object' || rawMeta === null || Array.isArray(rawMeta)) fail(`${METADATA_KEY} is not an object`);
    for (const [k, v] of Object.entries(rawMeta as object)) {
      if (typeof v !== 'string') fail(`${METADATA_KEY}.${k} is not a string`);
      metadata[k] = v;
    }
  }

  const spans: { name: string; begin: number; end: number }[] = [];
  const tensors: Record<string, SafeTensor> = {};
  for (const [name, raw] of Object.entries(entries)) {
    if (name === METADATA_KEY) continue;
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info !== 'object' || info === null) fail(`tensor '${name}' has no {dtype, shape, data_offsets}`);
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== 'string' || !(dtype in BYTES)) fail(`tensor '${name}' has dtype ${JSON.stringify(dtype)}; unmask reads ${Object.keys(BYTES).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor '${name}' has a bad shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`tensor '${name}' has bad data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as number[];
    if (begin > end || end > dataLen) fail(`tensor '${name}' data_offsets [${begin}, ${end}] fall outside the ${dataLen}-byte data section`);
    const dt = dtype as SafeDtype;
    const count = elementCount(shape as number[]);
    if (end - begin !== count * BYTES[dt]) fail(`tensor '${name}' spans ${end - begin} bytes but ${dt} [${shape}] needs ${count * BYTES[dt]}`);
    spans.push({ name, begin, end });
    // Copy into a fresh, aligned buffer, whatever the alignment inside the file. (Not bytes.slice():
    // on a Node Buffer that is a view of the whole pooled allocation.)
    const chunk = new Uint8Array(bytes.subarray(base + begin, base + end)).buffer;
    tensors[name] =
      dt === 'I64'
        ? { dtype: dt, shape: shape as number[], data: new BigInt64Array(chunk) }
        : { dtype: dt, shape: shape as number[], data: dt === 'F32' ? new Float32Array(chunk) : f16ToF32(new Uint16Array(chunk)) };
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const s of spans) {
    if (s.begin < covered) fail(`tensor '${s.name}' overlaps another tensor's bytes`);
    if (s.begin > covered) fail(`bytes ${covered}..${s.begin} of the data section belong to no tensor`);
    covered = s.end;
  }
  if (covered !== dataLen) fail(`the last ${dataLen - covered} bytes of the data section belong to no tensor`);
  return { tensors, metadata };
}

/** A ParamStore as safetensors tensors (F32, or F16 for smaller files that lose precision). */
export function paramsToTensors(store: ParamStore, dtype: 'F32' | 'F16' = 'F32'): Record<string, SafeTensor> {
  const out: Record<string, SafeTensor> = {};
  for (const [name, p] of store.map) out[name] = { dtype, shape: [...p.shape], data: p.data };
  return out;
}

/**
 * Float tensors into a ParamStore; integer tensors are refused, since parameters are float32, and so
 * are NaN or infinite values, which would sample one-token images and train on NaN without a word.
 */
export function paramsFromTensors(tensors: Record<string, SafeTensor>, source = 'safetensors data'): ParamStore {
  const store = new ParamStore();
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype === 'I64') throw new SafetensorsError(`${source}: tensor '${name}' is I64`, 'parameters must be F32 or F16; save them as floats');
    checkFinite(t.data, name, source);
    store.set(name, t.shape, t.data);
  }
  return store;
}

/** Refuses a tensor holding NaN or ±∞, naming it and how many values are bad. */
export function checkFinite(data: Float32Array, name: string, source: string): void {
  let bad = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) bad++;
  if (bad) {
    throw new UnmaskError(
      `${source}: tensor '${name}' holds ${bad} NaN or infinite value(s) of ${data.length}`,
      'the weights are damaged (a training run that diverged, or a broken copy); use an earlier checkpoint or train again',
    );
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → IEEE binary16 bits, round to nearest even; overflow to ±inf, underflow through subnormals to ±0; NaN stays NaN. */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Half subnormal: the value in units of 2⁻²⁴ is the 24-bit significand shifted right by 14 − e.
    if (e < -10) return sign; // below 2⁻²⁵, which itself rounds (to even) to zero
    const full = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rem = full & ((1 << shift) - 1);
    let h = full >>> shift;
    if (rem > half || (rem === half && h & 1)) h++; // a carry into bit 10 is the smallest normal: still right
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent rounds up to the next binade or inf
  return sign | h;
}

/** IEEE binary16 bits → number (exact). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

function f32ToF16(a: Float32Array): Uint16Array {
  const out = new Uint16Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f32ToF16Bits(a[i]);
  return out;
}

let f16Table: Float32Array | null = null;

function f16ToF32(a: Uint16Array): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f16Table[a[i]];
  return out;
}
