// The torch.save reader against files PyTorch wrote: one state dict saved six ways (zip and legacy
// formats, pickle protocols 2 and 4, PyTorch 1.13 and 2.13, float32/float16/bfloat16 storages, with and
// without strided views) reads back to the same tensors; the strict unpickler refuses what a state
// dict never holds.
import { describe, expect, it } from 'vitest';
import { PickleError, unpickle } from '../../src/interop/pickle.ts';
import { type TorchTensor, readTorchStateDict } from '../../src/interop/torch-file.ts';

const fixture = (name: string) => new URL(`../fixtures/torch/${name}`, import.meta.url).pathname;
const bits = (t: TorchTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** float32 → bfloat16 → float32, rounding to nearest even as PyTorch does. */
function toBfloat16(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer);
  u[0] = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16) << 16;
  return new Float32Array(u.buffer)[0];
}

describe('readTorchStateDict', () => {
  it('reads one state dict the same from every writer, format, protocol and view layout', async () => {
    // zip-f32 has a transposed head.weight and ln_f's weight and bias in one storage; torch2 and
    // protocol4 were saved from the plain, contiguous tensors.
    const plain = await readTorchStateDict(fixture('tiny-prior.torch2.th'));
    expect(plain.tensors.get('_denoise_fn.head.weight')!.shape).toEqual([16, 32]);
    for (const name of ['zip-f32', 'zip-f16', 'legacy-f32', 'legacy-f16', 'protocol4']) {
      const other = await readTorchStateDict(fixture(`tiny-prior.${name}.th`));
      expect([...other.tensors.keys()], name).toEqual([...plain.tensors.keys()]);
      for (const [k, t] of plain.tensors) {
        const o = other.tensors.get(k)!;
        expect(o.shape, `${name} ${k}`).toEqual(t.shape);
        expect(Buffer.compare(bits(o), bits(t)), `${name} ${k}`).toBe(0);
      }
    }
  });

  it('widens bfloat16 storages exactly', async () => {
    const plain = await readTorchStateDict(fixture('tiny-prior.torch2.th'));
    const bf16 = await readTorchStateDict(fixture('tiny-prior.zip-bf16.th'));
    let checked = 0;
    for (const [k, t] of bf16.tensors) {
      expect(t.dtype).toBe('bfloat16');
      const want = Float32Array.from(plain.tensors.get(k)!.data as Float32Array, toBfloat16);
      expect(Buffer.compare(bits(t), Buffer.from(want.buffer)), k).toBe(0);
      checked += want.length;
    }
    expect(checked).toBeGreaterThan(28000);
  });

  it('names the file and the problem when the path is wrong or the file is not a checkpoint', async () => {
    await expect(readTorchStateDict('/nonexistent/x.th')).rejects.toThrow('/nonexistent/x.th: cannot be read (ENOENT) — check the path');
    await expect(readTorchStateDict(fixture('tiny-expected.safetensors'))).rejects.toThrow("is not a PyTorch checkpoint (neither torch.save's zip format nor its legacy pickle format)");
  });
});

describe('unpickle (strict)', () => {
  const globals = new Map([['collections.OrderedDict', { global: 'collections.OrderedDict', call: () => new Map() }]]);
  const bytes = (...parts: (number | string)[]) => Uint8Array.from(parts.flatMap((p) => (typeof p === 'number' ? [p] : [...Buffer.from(p, 'latin1')])));

  it('reads the opcodes of a state dict: dicts, tuples, memo, ints of every width, strings', () => {
    // {'a': t, 'é': t} with t = (1, 300, -5, 2**40, -(2**70)), the second t from the memo.
    const p = bytes(0x80, 2, '}q\x00(X\x01\x00\x00\x00aq\x01(K\x01M\x2c\x01J\xfb\xff\xff\xff\x8a\x06\x00\x00\x00\x00\x00\x01\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\xc0tq\x02\x8c\x02\xc3\xa9\x94h\x02u.');
    const { value, end } = unpickle(p, { globals });
    expect(end).toBe(p.length);
    const t = [1, 300, -5, 2 ** 40, -(2n ** 70n)];
    expect(value).toEqual(new Map<string, unknown>([['a', t], ['é', t]]));
  });

  it('refuses globals outside the list, opcodes a state dict never uses, and truncation', () => {
    expect(() => unpickle(bytes(0x80, 2, 'cbuiltins\neval\n.'), { globals })).toThrow(PickleError);
    expect(() => unpickle(bytes(0x80, 2, 'cbuiltins\neval\n.'), { globals })).toThrow('names the global builtins.eval, which a state dict never holds');
    expect(() => unpickle(bytes(0x80, 2, 'i__main__\nX\n.'), { globals })).toThrow("opcode 0x69 is not one a state dict uses");
    expect(() => unpickle(bytes(0x80, 2, 'X\x10\x00\x00\x00ab'), { globals })).toThrow('needs 16 more byte(s) but the data ends at 9 (truncated)');
    expect(() => unpickle(bytes(0x80, 5, '.'), { globals })).toThrow('pickle protocol 5');
  });
});
