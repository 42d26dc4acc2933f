// FID and PRDC against NumPy/SciPy (reference/make_eval_fixtures.py): pytorch-fid's sqrtm formula and
// the prdc package's k-NN formulas on seeded Gaussian features, 200 real × 300 generated in 16-d.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EvalError, type Features } from '../../src/eval/features.ts';
import { fid } from '../../src/eval/fid.ts';
import { type Prdc, prdc } from '../../src/eval/prdc.ts';

/** Relative agreement required with SciPy (the bound). */
const REL_TOL = 1e-3;

interface Case {
  name: string;
  real: Features & { data: number[] };
  fake: Features & { data: number[] };
  fid: number;
  prdc: Record<string, Prdc>;
}

const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'eval', 'metrics.json'), 'utf8')) as { cases: Case[] };
const features = (f: Case['real']): Features => ({ n: f.n, d: f.d, data: Float64Array.from(f.data) });
const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

describe('metrics vs SciPy', () => {
  for (const c of fixture.cases) {
    it(`FID, case '${c.name}' (${c.real.n} × ${c.real.d} vs ${c.fake.n} × ${c.fake.d})`, () => {
      const got = fid(features(c.real), features(c.fake));
      const rel = relative(got, c.fid);
      console.log(`FID ${c.name}: ${got.toFixed(6)} vs SciPy ${c.fid.toFixed(6)}, relative difference ${rel.toExponential(2)} (tolerance ${REL_TOL})`);
      expect(rel).toBeLessThan(REL_TOL);
    });

    for (const [k, want] of Object.entries(c.prdc)) {
      it(`PRDC with k = ${k}, case '${c.name}'`, () => {
        const got = prdc(features(c.real), features(c.fake), Number(k));
        const worst = Math.max(...(Object.keys(want) as (keyof Prdc)[]).map((m) => relative(got[m], want[m])));
        console.log(`PRDC ${c.name} k=${k}: ${JSON.stringify(got)}; largest relative difference from NumPy ${worst.toExponential(2)} (tolerance ${REL_TOL})`);
        for (const m of Object.keys(want) as (keyof Prdc)[]) expect(relative(got[m], want[m])).toBeLessThan(REL_TOL);
      });
    }
  }

  it('FID of a set with itself is 0, and swapping the sets changes nothing', () => {
    const c = fixture.cases[0];
    expect(Math.abs(fid(features(c.real), features(c.real)))).toBeLessThan(1e-9);
    expect(relative(fid(features(c.fake), features(c.real)), c.fid)).toBeLessThan(1e-9);
  });
});

describe('inputs that cannot be evaluated', () => {
  const rows = (n: number, d: number): Features => ({ n, d, data: Float64Array.from({ length: n * d }, (_, i) => Math.sin(i * 1.7) + (i % 7)) });

  it('FID refuses fewer samples than the features need, naming the numbers', () => {
    expect(() => fid(rows(16, 16), rows(100, 16))).toThrow(/FID needs at least 17 real samples .*16 feature dimensions.*got 16 — evaluate more images/);
    expect(() => fid(rows(100, 16), rows(10, 16))).toThrow(EvalError);
  });

  it('PRDC refuses sets no larger than k', () => {
    expect(() => prdc(rows(3, 4), rows(10, 4))).toThrow(/PRDC needs at least 4 real samples \(k = 3 neighbours/);
    expect(() => prdc(rows(10, 4), rows(5, 4), 5)).toThrow(/at least 6 generated samples/);
  });

  it('rejects features of different dimensions and non-finite values', () => {
    expect(() => fid(rows(50, 8), rows(50, 16))).toThrow(/dimensions 8 and 16/);
    const bad = rows(50, 4);
    bad.data[13] = Number.NaN;
    expect(() => prdc(rows(50, 4), bad)).toThrow(/generated features contain NaN \(sample 3\)/);
  });
});
