// The VQGAN trainer against PyTorch for 10 steps (reference/make_vqgan_objective_fixtures.py) with the GAN
// on from step 0: from the same fixed weights, on the fixture's batches (fed through the trainer's Rng),
// VqganTrainer.step gives PyTorch's L1, codebook, perceptual and GAN terms, adaptive weight λ,
// discriminator loss and code perplexity at every step (Adam for both nets), and its weights, EMA and
// BatchNorm running statistics after the last.
import { describe, expect, it } from 'vitest';
import { parseVqganConfig } from '../../src/models/vqgan-config.ts';
import { type VqganStepInfo, VqganTrainer, initVqganState } from '../../src/training/train-vqgan.ts';
import { checkFixedWeights, fixedTensor } from '../helpers/fixed-weights.ts';
import { Golden } from '../helpers/golden.ts';
import { ScriptedRng } from '../helpers/scripted-rng.ts';
import { TRAJECTORY, TRAJECTORY_WEIGHTS, VQGAN_CODEBOOK_TRAJECTORY, nullDirectionWeights } from '../helpers/tolerances.ts';
import { addStored, fixtureImages, vqganFixture as fx } from '../helpers/vqgan-fixture.ts';

describe(`VQGAN trainer vs torch ${fx.torch}`, () => {
  it('VqganTrainer.step: autoencoder and discriminator steps, λ, EMA and running statistics', async () => {
    const traj = fx.trajectory;
    const c = parseVqganConfig(traj.config);
    const images = fixtureImages();
    const state = initVqganState(c, 0);
    for (const store of [state.params, state.ema]) {
      for (const name of store.names()) store.get(name).data.set(fixedTensor(name, store.get(name).shape));
    }
    checkFixedWeights(state.params, fx.checksums);
    const rng = new ScriptedRng();
    state.rng = rng;
    const trainer = new VqganTrainer(c, state, images);
    const seen: VqganStepInfo[] = [];
    try {
      for (const s of traj.steps) {
        for (const i of s.indices) rng.pushIndex(i, images.count);
        seen.push(await trainer.step());
        expect(rng.remaining(), 'scripted draws left unused').toBe(0);
      }
    } finally {
      await trainer.release();
    }
    console.log(`VqganTrainer: L1 ${seen.map((i) => i.rec.toFixed(4)).join(' → ')}; λ ${seen.map((i) => i.discWeight!.toFixed(3)).join(', ')}`);

    const golden = new Golden(`VqganTrainer, ${traj.steps.length} steps`, TRAJECTORY);
    for (const key of ['rec', 'codebook', 'perceptual', 'gan', 'discWeight', 'discLoss', 'perplexity'] as const) {
      golden.add(key, seen.map((i) => i[key]!), traj.steps.map((s) => s[key]), key === 'codebook' ? VQGAN_CODEBOOK_TRAJECTORY : TRAJECTORY);
    }
    const nullWeights = nullDirectionWeights(traj.steps.map(() => c.lr));
    for (const [kind, ours, ref] of [['weights', state.params, traj.params], ['EMA', state.ema, traj.ema]] as const) {
      for (const [name, t] of Object.entries(ref)) {
        const isNull = traj.nullDirections.includes(name);
        addStored(golden, `${isNull ? 'null-direction ' : ''}${kind}:${name}`, ours.get(name).data, t, isNull ? nullWeights : TRAJECTORY_WEIGHTS);
      }
    }
    for (const [name, ref] of Object.entries(traj.buffers)) golden.add(`running statistics:${name}`, state.params.get(name).data, ref.data, TRAJECTORY);
    golden.check();
  });
});
