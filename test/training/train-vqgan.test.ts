// The VQGAN trainer against PyTorch for 10 steps (reference/make_vqgan_objective_fixtures.py): from the same
// fixed weights, on the fixture's batches (fed through the trainer's Rng), VqganTrainer.step gives
// PyTorch's L1, codebook, perceptual and GAN terms, adaptive weight λ, discriminator loss and code
// perplexity at every step (Adam for both nets) — with the GAN on from step 0, and switched on at step 4
// (λ = 0 and D untrained before) — and, for the first, its weights, EMA and BatchNorm running statistics
// after the last step.
import { describe, expect, it } from 'vitest';
import { parseVqganConfig } from '../../src/models/vqgan-config.ts';
import { type VqganStepInfo, VqganTrainer, initVqganState } from '../../src/training/train-vqgan.ts';
import { checkFixedWeights, fixedTensor } from '../helpers/fixed-weights.ts';
import { Golden } from '../helpers/golden.ts';
import { ScriptedRng } from '../helpers/scripted-rng.ts';
import { TRAJECTORY, TRAJECTORY_WEIGHTS, VQGAN_CODEBOOK_TRAJECTORY, nullDirectionWeights } from '../helpers/tolerances.ts';
import { type VqganTrajectory, addStored, fixtureImages, vqganFixture as fx } from '../helpers/vqgan-fixture.ts';

const TERMS = ['rec', 'codebook', 'perceptual', 'gan', 'discWeight', 'discLoss', 'perplexity'] as const;

/** Runs VqganTrainer over the trajectory's steps from the fixed weights; returns the golden comparison so far. */
async function follow(label: string, traj: VqganTrajectory) {
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
  console.log(`${label}: L1 ${seen.map((i) => i.rec.toFixed(4)).join(' → ')}; λ ${seen.map((i) => i.discWeight?.toFixed(3) ?? '–').join(', ')}`);
  const golden = new Golden(`${label}, ${traj.steps.length} steps`, TRAJECTORY);
  for (const key of TERMS) {
    // the GAN's terms exist from discStartStep on, on both sides
    expect(seen.map((i) => i[key] !== undefined), key).toEqual(traj.steps.map((s) => s[key] !== undefined));
    const steps = traj.steps.flatMap((s, j) => (s[key] === undefined ? [] : [j]));
    golden.add(key, steps.map((j) => seen[j][key]!), steps.map((j) => traj.steps[j][key]!), key === 'codebook' ? VQGAN_CODEBOOK_TRAJECTORY : TRAJECTORY);
  }
  return { golden, state, c };
}

describe(`VQGAN trainer vs torch ${fx.torch}`, () => {
  it('VqganTrainer.step with the GAN from step 0: every term, λ, and the weights, EMA and running statistics after', async () => {
    const traj = fx.trajectory;
    const { golden, state, c } = await follow('VqganTrainer', traj);
    const nullWeights = nullDirectionWeights(traj.steps.map(() => c.lr));
    for (const [kind, ours, ref] of [['weights', state.params, traj.params!], ['EMA', state.ema, traj.ema!]] as const) {
      for (const [name, t] of Object.entries(ref)) {
        const isNull = traj.nullDirections!.includes(name);
        addStored(golden, `${isNull ? 'null-direction ' : ''}${kind}:${name}`, ours.get(name).data, t, isNull ? nullWeights : TRAJECTORY_WEIGHTS);
      }
    }
    for (const [name, ref] of Object.entries(traj.buffers!)) golden.add(`running statistics:${name}`, state.params.get(name).data, ref.data, TRAJECTORY);
    golden.check();
  });

  it('VqganTrainer.step with the GAN from step 4: λ = 0 and D untouched before it', async () => {
    const traj = fx.lateGanTrajectory;
    const { golden, state } = await follow('VqganTrainer (GAN from step 4)', traj);
    golden.check();
    expect(state.optDisc.step, 'discriminator updates').toBe(traj.steps.filter((s) => s.discLoss !== undefined).length);
  });
});
