// safetensors against independent sources: float16 rounding by numpy (checked against torch by
// reference/make_safetensors_fixtures.py), a file written by hand in Python from the format
// description, hand-computed binary16 values, and the format's layout rules parsed by hand here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParamStore } from '../../src/engine/params.ts';
import {
  type SafeTensor,
  decodeSafetensors,
  encodeSafetensors,
  f16BitsToF32,
  f32ToF16Bits,
  paramsFromTensors,
  paramsToTensors,
} from '../../src/engine/safetensors.ts';

/** Bit-exact: conversions and round trips have exactly one right answer. */
const F16_BIT_MISMATCHES_ALLOWED = 0;

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const f16Fixture = JSON.parse(fixture('f16.json').toString('utf8')) as { f32: number[]; f16: number[]; back: number[] };

const bitsToF32 = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0];
const f32Bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
const isF16NaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

/** Reads a safetensors buffer the slow, obvious way, to check what the encoder wrote. */
function parseByHand(bytes: Uint8Array): { headerLen: number; header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> } {
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLen)).toString('utf8'));
  return { headerLen, header };
}

describe('float32 → float16 vs numpy', () => {
  it(`${f16Fixture.f32.length} values (edges + log-uniform sample), bit for bit`, () => {
    let mismatches = 0;
    f16Fixture.f32.forEach((bits, i) => {
      const h = f32ToF16Bits(bitsToF32(bits));
      const want = f16Fixture.f16[i];
      if (isF16NaN(want) ? !isF16NaN(h) : h !== want) mismatches++;
    });
    console.log(`f32→f16: ${mismatches} of ${f16Fixture.f32.length} differ from numpy (allowed ${F16_BIT_MISMATCHES_ALLOWED})`);
    expect(mismatches).toBeLessThanOrEqual(F16_BIT_MISMATCHES_ALLOWED);
  });

  it('float16 → float32 matches numpy, and every non-NaN half survives a round trip', () => {
    f16Fixture.f16.forEach((h, i) => {
      const x = f16BitsToF32(h);
      if (isF16NaN(h)) expect(x).toBeNaN();
      else expect(f32Bits(x)).toBe(f16Fixture.back[i]);
    });
    let bad = 0;
    for (let h = 0; h < 65536; h++) if (!isF16NaN(h) && f32ToF16Bits(f16BitsToF32(h)) !== h) bad++;
    expect(bad).toBe(0);
  });

  it('hand-computed edge values', () => {
    const cases: [number, number][] = [
      [65504, 0x7bff], // largest half
      [65519, 0x7bff], // below the midpoint to 2^16: rounds down
      [65520, 0x7c00], // the midpoint: ties to even, which is inf
      [6e-8, 0x0001], // nearest to 2^-24 ≈ 5.96e-8, the smallest subnormal
      [2 ** -25, 0x0000], // exactly half the smallest subnormal: ties to even (0)
      [3 * 2 ** -25, 0x0002], // 1.5 subnormal units: ties to even (2)
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [1 / 3, 0x3555],
      [1 + 2 ** -11, 0x3c00], // tie between 1 and 1 + 2^-10: even mantissa (1)
      [1 + 3 * 2 ** -11, 0x3c02],
      [2 ** -14 - 2 ** -25, 0x0400], // rounds up from the subnormals into the smallest normal
    ];
    for (const [x, h] of cases) expect(f32ToF16Bits(x).toString(16)).toBe(h.toString(16));
    expect(isF16NaN(f32ToF16Bits(Number.NaN))).toBe(true);
  });
});

describe('safetensors round trip', () => {
  const special = [0, -0, 1, -1.5, Math.fround(1 / 3), 3.4028234663852886e38, 1e-45, Infinity, -Infinity, Number.NaN, Math.fround(0.1)];
  const tensors: Record<string, SafeTensor> = {
    'blocks.0.weight': { dtype: 'F32', shape: [special.length], data: Float32Array.from(special) },
    half: { dtype: 'F16', shape: [2, 4], data: Float32Array.from([65504, 6e-8, -0, Infinity, Number.NaN, 1 / 3, -2.5, 1e5]) },
    ids: { dtype: 'I64', shape: [4], data: BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n, 0n, 2n ** 53n + 1n]) },
    odd: { dtype: 'F16', shape: [3], data: Float32Array.from([1, 2, 3]) },
    scalar: { dtype: 'F32', shape: [], data: Float32Array.from([7]) },
    empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
  };
  const metadata = { format: 'pt', 'unmask.step': '1200', note: 'ünïcode ✓' };
  const bytes = encodeSafetensors(tensors, metadata);

  it('lays the file out as the format says', () => {
    const { headerLen, header } = parseByHand(bytes);
    expect(headerLen % 8).toBe(0);
    expect(Buffer.from(bytes.subarray(8, 8 + headerLen)).toString('latin1')).toMatch(/} *$/);
    expect(header.__metadata__).toEqual(metadata);
    let total = 0;
    for (const [name, t] of Object.entries(tensors)) {
      const h = header[name];
      const size = { F32: 4, F16: 2, I64: 8 }[t.dtype];
      expect(h).toEqual({ dtype: t.dtype, shape: t.shape, data_offsets: [h.data_offsets[0], h.data_offsets[0] + t.data.length * size] });
      expect(h.data_offsets[0] % size).toBe(0);
      total += t.data.length * size;
    }
    expect(bytes.length).toBe(8 + headerLen + total);
  });

  it('decodes to the same values: F32 bit-exact, F16 as rounded, I64 exact', () => {
    const { tensors: back, metadata: meta } = decodeSafetensors(bytes, 'roundtrip.safetensors');
    expect(meta).toEqual(metadata);
    expect(Object.keys(back).sort()).toEqual(Object.keys(tensors).sort());
    expect([...(back['blocks.0.weight'].data as Float32Array)].map(f32Bits)).toEqual(special.map(f32Bits));
    const half = [...(back.half.data as Float32Array)];
    expect(half.slice(0, 4)).toEqual([65504, 2 ** -24, -0, Infinity]);
    expect(Object.is(half[2], -0)).toBe(true);
    expect(half[4]).toBeNaN();
    expect(half.slice(5)).toEqual([0.333251953125, -2.5, Infinity]); // 1/3 to 11 bits; 1e5 overflows
    expect(back.half.dtype).toBe('F16');
    expect(back.ids.data).toEqual(tensors.ids.data);
    expect(back.scalar).toEqual({ dtype: 'F32', shape: [], data: Float32Array.from([7]) });
    expect(back.empty.shape).toEqual([0, 3]);
    expect(back.odd.data).toEqual(Float32Array.from([1, 2, 3]));
  });

  it('decodes from a subarray at an odd byte offset', () => {
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    expect(decodeSafetensors(shifted.subarray(3)).tensors.ids.data).toEqual(tensors.ids.data);
  });

  it('ParamStore ↔ tensors', () => {
    const store = new ParamStore();
    store.set('a.weight', [2, 2], Float32Array.from([1, 2, 3, 4]));
    store.set('a.bias', [2], Float32Array.from([0.1, -0.2]));
    const back = paramsFromTensors(decodeSafetensors(encodeSafetensors(paramsToTensors(store))).tensors);
    expect(back.map).toEqual(store.map);
    const ints: Record<string, SafeTensor> = { n: { dtype: 'I64', shape: [1], data: BigInt64Array.from([3n]) } };
    expect(() => paramsFromTensors(ints, 'bn.safetensors')).toThrow("bn.safetensors: tensor 'n' is I64");
  });
});

describe('a file written by hand in Python', () => {
  it('decodes (unaligned, out-of-order data; metadata)', () => {
    const { tensors, metadata } = decodeSafetensors(fixture('python.safetensors'), 'python.safetensors');
    expect(metadata).toEqual({ format: 'pt', note: 'hand-written by make_safetensors_fixtures.py' });
    expect(tensors.weight).toEqual({ dtype: 'F32', shape: [2, 3], data: Float32Array.from([1.5, -2.25, 3e-38, 1e30, -0, 0.1]) });
    expect(Object.is(tensors.weight.data[4], -0)).toBe(true);
    expect(tensors.ids.data).toEqual(BigInt64Array.from([-(2n ** 62n), 0n, 2n ** 53n + 1n]));
    const half = [...(tensors.half.data as Float32Array)];
    expect(half.filter((_, i) => i !== 5)).toEqual([65504, 2 ** -24, -0, Infinity, -Infinity, 0.333251953125]);
    expect(half[5]).toBeNaN();
    expect(tensors.empty).toEqual({ dtype: 'F32', shape: [0, 4], data: new Float32Array(0) });
    expect(tensors.scalar.data).toEqual(Float32Array.from([3.5]));
  });
});

describe('malformed files are rejected with one clear line', () => {
  function file(header: unknown, dataLen: number, headerLen?: bigint): Uint8Array {
    const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + dataLen);
    new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(json.length), true);
    out.set(json, 8);
    return out;
  }
  const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
  const cases: [string, Uint8Array, RegExp][] = [
    ['too short', new Uint8Array(5), /5 bytes is too short/],
    ['header length past the end', file({}, 0, 1000n), /header length 1000 does not fit in a 10-byte file/],
    ['huge header length', file({}, 0, 2n ** 63n), /header length \d+ does not fit/],
    ['header not JSON', file('{"a": ', 0), /header is not valid UTF-8 JSON/],
    ['header not an object', file('[1, 2]', 0), /header is not a JSON object/],
    ['unknown dtype', file({ x: { dtype: 'BF16', shape: [1], data_offsets: [0, 2] } }, 2), /tensor 'x' has dtype "BF16"; unmask reads I64, F32, F16/],
    ['bad shape', file({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /tensor 'x' has a bad shape \[-1\]/],
    ['offsets out of range', file({ x: f32(0, 8) }, 4), /data_offsets \[0, 8\] fall outside the 4-byte data section/],
    ['reversed offsets', file({ x: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, 4), /data_offsets \[4, 0\] fall outside/],
    ['size does not match shape', file({ x: f32(0, 8, [3]) }, 8), /tensor 'x' spans 8 bytes but F32 \[3\] needs 12/],
    ['overlapping tensors', file({ a: f32(0, 8), b: f32(4, 8) }, 8), /overlaps another tensor/],
    ['a hole between tensors', file({ a: f32(0, 4), b: f32(8, 12) }, 12), /bytes 4\.\.8 of the data section belong to no tensor/],
    ['trailing bytes', file({ a: f32(0, 4) }, 8), /the last 4 bytes of the data section belong to no tensor/],
    ['non-string metadata', file({ __metadata__: { step: 3 } }, 0), /__metadata__\.step is not a string/],
  ];
  for (const [what, bytes, message] of cases) {
    it(what, () => {
      let error: Error | undefined;
      try {
        decodeSafetensors(bytes, 'bad.safetensors');
      } catch (e) {
        error = e as Error;
      }
      expect(error?.name).toBe('SafetensorsError');
      expect(error?.message).toMatch(/^bad\.safetensors: /);
      expect(error?.message).toMatch(message);
      expect(error?.message).not.toContain('\n');
    });
  }

  it('encoder refuses inconsistent tensors', () => {
    expect(() => encodeSafetensors({ x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow("tensor 'x' has 2 values for shape [3]");
    expect(() => encodeSafetensors({ __metadata__: { dtype: 'F32', shape: [0], data: new Float32Array(0) } })).toThrow(/cannot be a tensor name/);
  });
});
