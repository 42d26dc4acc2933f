// The prior's and the autoregressive baseline's trainers against PyTorch for 10 steps
// (reference/make_prior_objective_fixtures.py): from the same fixed weights, on the fixture's batches,
// times and masks (fed through the trainer's Rng), PriorTrainer.step and AutoregressiveTrainer.step give
// PyTorch's loss, batch ELBO/NLL, gradient norm and learning rate at every step (Adam, warm-up,
// clipping), and its weights and EMA after the last.
import { describe, expect, it } from 'vitest';
import { parsePriorConfig } from '../../src/models/prior-config.ts';
import { AutoregressiveTrainer } from '../../src/training/train-autoregressive.ts';
import { type PriorStepInfo, PriorTrainer } from '../../src/training/train-prior.ts';
import { Golden } from '../helpers/golden.ts';
import { ScriptedTimes, type Trajectory, fixedTrainState, fixtureLatents, priorFixture as fixture } from '../helpers/prior-fixture.ts';
import type { ScriptedRng } from '../helpers/scripted-rng.ts';
import { TRAJECTORY, TRAJECTORY_WEIGHTS, nullDirectionWeights } from '../helpers/tolerances.ts';

/** Runs the trainer over the fixture's steps, scripting each step's draws, and compares everything. */
async function follow(label: string, traj: Trajectory, trainer: { step(): Promise<PriorStepInfo>; release(): Promise<void> }, rng: ScriptedRng, script: (s: Trajectory['steps'][number]) => void, state: { params: ParamLike; ema: ParamLike }) {
  const seen: PriorStepInfo[] = [];
  try {
    for (const s of traj.steps) {
      script(s);
      seen.push(await trainer.step());
      expect(rng.remaining(), 'scripted draws left unused').toBe(0);
    }
  } finally {
    await trainer.release();
  }
  console.log(`${label}: loss ${seen.map((i) => i.loss.toFixed(4)).join(' → ')}`);
  const golden = new Golden(`${label}, ${traj.steps.length} steps`, TRAJECTORY);
  for (const key of ['loss', 'elbo', 'gradNorm', 'lr'] as const) golden.add(key, seen.map((i) => i[key]), traj.steps.map((s) => s[key]));
  const nullWeights = nullDirectionWeights(traj.steps.map((s) => s.lr));
  for (const [kind, ours, ref] of [['weights', state.params, traj.params], ['EMA', state.ema, traj.ema]] as const) {
    for (const [name, t] of Object.entries(ref ?? {})) {
      const isNull = traj.nullDirections!.includes(name);
      golden.add(`${isNull ? 'null-direction ' : ''}${kind}:${name}`, ours.get(name).data, t.data, isNull ? nullWeights : TRAJECTORY_WEIGHTS);
    }
  }
  golden.check();
}

interface ParamLike {
  get(name: string): { data: Float32Array };
}

describe(`prior trainers vs torch ${fixture.torch}`, () => {
  const data = fixtureLatents();
  const n = data.tokens.length / data.count;

  it('PriorTrainer.step: reweighted ELBO, Adam with warm-up, clipping and EMA', async () => {
    const traj = fixture.priorTrajectory;
    const c = parsePriorConfig(traj.config);
    const state = fixedTrainState(c);
    await follow('PriorTrainer', traj, new PriorTrainer(c, state, data), state.rng, (s) => {
      // per sample, as the trainer draws: which grid, its time t = 1 + ⌊u·T⌋, then one uniform per position
      s.indices.forEach((i, b) => state.rng.pushIndex(i, data.count).pushIndex(s.t![b] - 1, n).pushMask(s.mask!.data.slice(b * n, (b + 1) * n)));
    }, state);
  });

  it('PriorTrainer.step: the ELBO objective on importance-sampled times, weighted and reported with their p(t)', async () => {
    const traj = fixture.importanceTrajectory;
    const c = parsePriorConfig(traj.config);
    const state = fixedTrainState(c);
    const times = new ScriptedTimes(n, c.timeSampling);
    state.times = times;
    await follow('PriorTrainer (elbo, importance-sampled t)', traj, new PriorTrainer(c, state, data), state.rng, (s) => {
      s.indices.forEach((i, b) => {
        state.rng.pushIndex(i, data.count).pushMask(s.mask!.data.slice(b * n, (b + 1) * n));
        times.push(s.t![b], s.pt![b]);
      });
    }, state);
  });

  it('AutoregressiveTrainer.step: next-token CE with the same optimizer', async () => {
    const traj = fixture.autoregressiveTrajectory;
    const c = parsePriorConfig(traj.config);
    const state = fixedTrainState(c);
    await follow('AutoregressiveTrainer', traj, new AutoregressiveTrainer(c, state, data), state.rng, (s) => s.indices.forEach((i) => state.rng.pushIndex(i, data.count)), state);
  });
});
