// The VQGAN against the reference PyTorch module (bench/pytorch_vqgan.py): parameter names and shapes
// of the 256-px configuration, and the quantizer's outputs and gradients.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as F from '../../src/engine/api.ts';
import { grad } from '../../src/engine/autodiff.ts';
import { Graph } from '../../src/engine/graph.ts';
import { ParamStore } from '../../src/engine/params.ts';
import { Program } from '../../src/engine/session.ts';
import { Scope } from '../../src/nn/scope.ts';
import { discriminator, encoder, generator, lastLayerName, quantize } from '../../src/models/vqgan.ts';
import { VQGAN_256, parseVqganConfig } from '../../src/models/vqgan-config.ts';

const QUANT_TOL = 1e-5;
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/vqgan/${name}`, import.meta.url), 'utf8'));

describe('VQGAN architecture (reference 256-px config)', () => {
  const g = new Graph();
  const s = new Scope(g);
  const c = VQGAN_256;
  const x = g.input('x', [1, 3, 256, 256]);
  const z = encoder(s.sub('encoder'), x, c);
  const q = quantize(s.sub('quantize'), z, c);
  const y = generator(s.sub('generator'), q.zq, c);
  discriminator(s.sub('disc'), y, c, true);

  it('maps 256×256 images to a 16×16 grid of 256-d latents and back', () => {
    expect(z.shape).toEqual([1, 256, 16, 16]);
    expect(q.indices.shape).toEqual([1, 16, 16]);
    expect(y.shape).toEqual([1, 3, 256, 256]);
  });

  it('has the reference state-dict keys and shapes', () => {
    const ref: Record<string, number[]> = fixture('names-256.json');
    // The reference creates conv_out in every ResBlock; unmask declares it only where channels change
    // (where the reference uses it), so a reference checkpoint's unused conv_out weights are skipped.
    const resBlockOf = (k: string) => k.replace(/\.conv_out\.(weight|bias)$/, '');
    const unused = Object.keys(ref).filter((k) => k.includes('.conv_out.') && ref[`${resBlockOf(k)}.conv1.weight`][0] === ref[`${resBlockOf(k)}.conv1.weight`][1]);
    const expected = Object.fromEntries(Object.entries(ref).filter(([k]) => !unused.includes(k)));
    const ours = Object.fromEntries([...g.params.values()].map((p) => [p.name, [...p.shape]]));
    console.log(`${Object.keys(ours).length} parameters match; ${unused.length} unused reference conv_out tensors skipped`);
    expect(ours).toEqual(expected);
    expect(lastLayerName(c)).toBe('generator.blocks.21.weight');
  });
});

describe('quantizer', () => {
  it('matches PyTorch: nearest codes, loss, straight-through and codebook gradients', async () => {
    const f = fixture('quantizer.json');
    const c = parseVqganConfig({ codebookSize: 8, embDim: 4 });
    const g = new Graph();
    const z = g.input('z', [2, 4, 3, 3]);
    const r = g.input('r', [2, 4, 3, 3]);
    const q = quantize(new Scope(g).sub('quantize'), z, c);
    const total = F.add(q.loss, F.reduceSum(F.mul(q.zq, r)));
    const e = g.params.get('quantize.embedding.weight')!.tensor;
    const [gz, ge] = grad(total, [z, e]);
    const p = await Program.compile(g, { outputs: { idx: q.indices, loss: q.loss, zq: q.zq, gz, ge } });
    const params = new ParamStore();
    params.set('quantize.embedding.weight', [8, 4], Float32Array.from(f.codebook));
    const out = await p.run({ z: Float32Array.from(f.z), r: Float32Array.from(f.r) }, params);
    expect(Array.from(out.idx.data as BigInt64Array, Number)).toEqual(f.indices);
    const maxDiff = (a: ArrayLike<number>, b: number[]) => Math.max(...b.map((v, i) => Math.abs(v - a[i])));
    const diffs = {
      loss: Math.abs((out.loss.data[0] as number) - f.loss),
      zq: maxDiff(out.zq.data as Float32Array, f.zq),
      grad_z: maxDiff(out.gz.data as Float32Array, f.grad_z),
      grad_codebook: maxDiff(out.ge.data as Float32Array, f.grad_codebook),
    };
    console.log('quantizer max |Δ| vs PyTorch:', diffs, `(tolerance ${QUANT_TOL})`);
    for (const d of Object.values(diffs)) expect(d).toBeLessThan(QUANT_TOL);
  });
});
