// The absorbing prior's objective against PyTorch (reference/make_prior_objective_fixtures.py writes
// test/fixtures/objectives/prior.json): buildPriorGraph with lossWeight for every objective — the
// per-sample masked CE sums, the loss and every parameter's gradient — and validationElbo on the
// fixture's masks, fed through the Rng it draws them from.
import { describe, expect, it, vi } from 'vitest';
import { lossWeight } from '../../src/diffusion/absorbing.ts';
import { buildPriorGraph, validationElbo } from '../../src/diffusion/elbo.ts';
import { TrainStep } from '../../src/engine/trainstep.ts';
import { parsePriorConfig } from '../../src/models/prior-config.ts';
import { checkFixedWeights, fixedWeights } from '../helpers/fixed-weights.ts';
import { Golden, int64 } from '../helpers/golden.ts';
import { fixtureLatents, priorFixture as fixture } from '../helpers/prior-fixture.ts';
import { ScriptedRng } from '../helpers/scripted-rng.ts';
import { OBJECTIVE } from '../helpers/tolerances.ts';

// validationElbo draws its masks from `new Rng(seed)`; while `script.rng` is set, every Rng draws from it.
const script = vi.hoisted(() => ({ rng: null as { next(): number } | null }));
vi.mock('../../src/engine/rng.ts', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/engine/rng.ts')>();
  class Rng extends mod.Rng {
    override next(): number {
      return script.rng ? script.rng.next() : super.next();
    }
  }
  return { ...mod, Rng };
});

const f = fixture.losses;
const [batch, n] = f.x0.shape;
const c = parsePriorConfig({ ...fixture.model, batch });

describe(`prior objective vs torch ${fixture.torch}`, () => {
  it('buildPriorGraph × lossWeight: masked CE sums, loss and every gradient, for each objective', async () => {
    const g = buildPriorGraph(c, batch);
    const params = fixedWeights(g.graph);
    checkFixedWeights(params, fixture.checksums.bidirectional);
    const step = await TrainStep.compile(g.graph, g.loss, { extra: { ceSum: g.ceSum } });
    const mask = Float32Array.from(f.mask.data);
    try {
      for (const k of f.cases) {
        const weight = Float32Array.from(f.t, (t, b) => lossWeight(k.loss, t, n, n, mask.subarray(b * n, (b + 1) * n).reduce((a, v) => a + v, 0), k.pt[b]));
        const r = await step.run({ xt: int64(f.xt), x0: int64(f.x0), mask, weight }, params);
        const golden = new Golden(`prior loss '${k.name}' (t = ${f.t.join(', ')})`, OBJECTIVE)
          .add('ceSum', r.outputs.ceSum.data as Float32Array, f.ceSum.data)
          .add('loss', [r.loss], [k.value]);
        for (const [name, grad] of Object.entries(k.grads)) golden.add(`gradient:${name}`, r.grads.get(name)!, grad.data);
        expect(r.grads.size).toBe(Object.keys(k.grads).length);
        golden.check();
      }
    } finally {
      await step.release();
    }
  });

  it('validationElbo on the fixture masks (jobs in chunks, the last one short)', async () => {
    const v = fixture.validationElbo;
    const rng = new ScriptedRng();
    for (let j = 0; j < v.count * v.times.length; j++) rng.pushMask(v.masks.data.slice(j * n, (j + 1) * n));
    script.rng = rng;
    const params = fixedWeights(buildPriorGraph(c, 1).graph);
    let bits: number;
    try {
      bits = await validationElbo(c, params, fixtureLatents(v.count), v.times, 0, v.batch);
    } finally {
      script.rng = null;
    }
    expect(rng.remaining()).toBe(0);
    new Golden(`validation ELBO (${v.count} grids × times ${v.times.join(', ')}, batch ${v.batch})`, OBJECTIVE).add('bits per token', [bits], [v.bitsPerToken]).check();
  });
});
