// The VQGAN's training objectives against PyTorch (reference/make_vqgan_objective_fixtures.py writes
// test/fixtures/objectives/vqgan.json) on a tiny VQGAN with fixed weights: buildAeGraph's L1, codebook
// loss, discriminator-feature perceptual term, GAN term and adaptive weight λ (unclamped, clamped, and
// with DiffAugment on given draws), code indices and every gradient; buildDiscGraph's hinge loss,
// BatchNorm batch statistics and every gradient.
import { describe, expect, it } from 'vitest';
import type { ParamStore } from '../../src/engine/params.ts';
import { TrainStep } from '../../src/engine/trainstep.ts';
import { diffAugmentFeeds, parseDiffAugment } from '../../src/models/diffaugment.ts';
import { buildAeGraph, buildDiscGraph } from '../../src/models/vqgan-loss.ts';
import { type VqganConfig, parseVqganConfig } from '../../src/models/vqgan-config.ts';
import { checkFixedWeights, fixedWeights } from '../helpers/fixed-weights.ts';
import { Golden } from '../helpers/golden.ts';
import { OBJECTIVE } from '../helpers/tolerances.ts';
import { addStored, vqganFixture as fx } from '../helpers/vqgan-fixture.ts';

const num = (t: { data: ArrayLike<number | bigint> }) => Number(t.data[0]);
/** buildDiscGraph's two calls of D, in the order of their batch statistics. */
const CALLS = ['real', 'fake'];
// the cases' batch: the first images of the fixture's set
const batch = Number(fx.autoencoder[0].config.batch);
const imageSize = fx.images.shape[2];
const x = Float32Array.from(fx.images.data.slice(0, batch * fx.images.shape[1] * imageSize * imageSize));

/** Every parameter of the full model (autoencoder and discriminator), fixed, as PyTorch's copy has them. */
function fixedVqgan(c: VqganConfig): ParamStore {
  const params = fixedWeights(buildAeGraph({ ...c, perceptual: 'disc-features' }, 1, true).graph);
  checkFixedWeights(params, fx.checksums);
  return params;
}

describe(`VQGAN objectives vs torch ${fx.torch}`, () => {
  it.each(fx.autoencoder.map((k) => [k.name, k] as const))('buildAeGraph: %s', async (_, k) => {
    const c = parseVqganConfig(k.config);
    const params = fixedVqgan(c);
    const g = buildAeGraph(c, batch, k.adversarial);
    const augments = parseDiffAugment(c.diffAugment);
    const feeds = k.fakeDraws ? diffAugmentFeeds('diffAugment.fake', augments, k.fakeDraws, imageSize) : {};
    const step = await TrainStep.compile(g.graph, g.loss, { params: g.trained, extra: g.extra });
    const r = await step.run({ x, ...feeds }, params).finally(() => step.release());

    expect(Array.from(r.outputs.indices.data as BigInt64Array, Number), 'code indices').toEqual(k.indices);
    expect([...r.grads.keys()].sort()).toEqual(Object.keys(k.grads).sort());
    const golden = new Golden(`AE '${k.name}'`, OBJECTIVE).add('loss', [r.loss], [k.loss]);
    for (const term of ['rec', 'codebook', 'perceptual', 'gan', 'discWeight'] as const) {
      expect(term in r.outputs, `${term} reported`).toBe(k[term] !== undefined);
      if (k[term] !== undefined) golden.add(term, [num(r.outputs[term])], [k[term]!]);
    }
    for (const [name, ref] of Object.entries(k.grads)) addStored(golden, `gradient:${name}`, r.grads.get(name)!, ref, OBJECTIVE);
    golden.check();
    if (k.discWeight !== undefined && k.config.discWeightMax === k.discWeight) console.log(`  λ clamped at disc_weight_max = ${k.discWeight}`);
  });

  it.each(fx.discriminator.map((k) => [k.name, k] as const))('buildDiscGraph: %s', async (_, k) => {
    const c = parseVqganConfig(k.config);
    const params = fixedVqgan(c);
    const g = buildDiscGraph(c, batch);
    const augments = parseDiffAugment(c.diffAugment);
    const feeds = k.draws
      ? { ...diffAugmentFeeds('diffAugment.real', augments, k.draws.real, imageSize), ...diffAugmentFeeds('diffAugment.fake', augments, k.draws.fake, imageSize) }
      : {};
    const step = await TrainStep.compile(g.graph, g.loss, { params: g.trained, extra: g.extra });
    const r = await step.run({ x, xhat: Float32Array.from(k.xhat.data), ...feeds }, params).finally(() => step.release());

    expect([...r.grads.keys()].sort()).toEqual(Object.keys(k.grads).sort());
    const golden = new Golden(`D '${k.name}'`, OBJECTIVE)
      .add('loss', [r.loss], [k.loss])
      .add('mean logits real', [num(r.outputs.logitsReal)], [k.logitsReal])
      .add('mean logits fake', [num(r.outputs.logitsFake)], [k.logitsFake]);
    expect(g.bnUpdates.length).toBe(k.bnStats.reduce((n, call) => n + Object.keys(call).length, 0));
    k.bnStats.forEach((call, i) => {
      for (const [layer, st] of Object.entries(call)) {
        golden.add(`batch statistics:${layer}.mean(${CALLS[i]})`, r.outputs[`bn${i}:${layer}:mean`].data as Float32Array, st.mean.data);
        golden.add(`batch statistics:${layer}.var(${CALLS[i]})`, r.outputs[`bn${i}:${layer}:var`].data as Float32Array, st.var.data);
      }
    });
    for (const [name, ref] of Object.entries(k.grads)) golden.add(`gradient:${name}`, r.grads.get(name)!, ref.data);
    golden.check();
  });

  it('has the parameters of the PyTorch model it is compared with', () => {
    const names = [...buildAeGraph(parseVqganConfig(fx.autoencoder[1].config), 1, true).graph.params.keys()];
    expect(names.sort()).toEqual(Object.keys(fx.checksums).sort());
  });
});
