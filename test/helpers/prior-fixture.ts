// The prior objective fixture (reference/make_prior_objective_fixtures.py → test/fixtures/objectives/prior.json)
// and what the prior tests build from it: the dataset and a trainer state holding the fixed weights.
import type { LatentSet } from '../../src/data/latent-set.ts';
import { TimeSampler } from '../../src/diffusion/absorbing.ts';
import type { PriorConfig } from '../../src/models/prior-config.ts';
import { type PriorTrainState, initPriorState } from '../../src/training/train-prior.ts';
import { checkFixedWeights, fixedTensor } from './fixed-weights.ts';
import { type FixtureTensor, readFixture } from './golden.ts';
import { ScriptedRng } from './scripted-rng.ts';

export interface TrajectoryStep {
  indices: number[];
  /** The prior's times and masks [B, N] (absent for the autoregressive baseline). */
  t?: number[];
  mask?: FixtureTensor;
  /** Each time's probability, where they were not drawn uniformly. */
  pt?: number[];
  loss: number;
  elbo: number;
  gradNorm: number;
  lr: number;
}

export interface Trajectory {
  config: Record<string, unknown>;
  steps: TrajectoryStep[];
  /** Parameters without any gradient (compared within tolerances.nullDirectionWeights). */
  nullDirections?: string[];
  /** Every weight and its EMA after the last step (not stored for every trajectory). */
  params?: Record<string, FixtureTensor>;
  ema?: Record<string, FixtureTensor>;
}

export interface PriorFixture {
  torch: string;
  model: { codebookSize: number; latent: number; dim: number; layers: number; heads: number };
  checksums: { bidirectional: Record<string, number>; causal: Record<string, number> };
  data: FixtureTensor;
  losses: {
    x0: FixtureTensor;
    xt: FixtureTensor;
    mask: FixtureTensor;
    t: number[];
    ceSum: FixtureTensor;
    cases: { name: string; loss: 'elbo' | 'reweighted_elbo' | 'mlm'; pt: number[]; value: number; grads: Record<string, FixtureTensor> }[];
  };
  validationElbo: { count: number; times: number[]; batch: number; masks: FixtureTensor; bitsPerToken: number };
  priorTrajectory: Trajectory;
  autoregressiveTrajectory: Trajectory;
  importanceTrajectory: Trajectory;
}

export const priorFixture = readFixture<PriorFixture>('objectives/prior.json');

export function fixtureLatents(count = priorFixture.data.shape[0]): LatentSet {
  const n = priorFixture.data.shape[1];
  return { count, tokens: Int32Array.from(priorFixture.data.data.slice(0, count * n)) };
}

/** A fresh trainer state (optimizer, EMA, time sampler as the trainer makes them) on the fixed weights, drawing from a ScriptedRng. */
export function fixedTrainState(c: PriorConfig): PriorTrainState & { rng: ScriptedRng } {
  const state = initPriorState(c, 0);
  for (const store of [state.params, state.ema]) {
    for (const name of store.names()) store.get(name).data.set(fixedTensor(name, store.get(name).shape));
  }
  checkFixedWeights(state.params, c.causal ? priorFixture.checksums.causal : priorFixture.checksums.bidirectional);
  return { ...state, rng: new ScriptedRng() };
}

/** A TimeSampler returning given times with their probabilities: an importance sampler's draws, fed in. */
export class ScriptedTimes extends TimeSampler {
  private queue: { t: number; pt: number }[] = [];

  push(t: number, pt: number): void {
    this.queue.push({ t, pt });
  }

  override sample(): { t: number; pt: number } {
    const next = this.queue.shift();
    if (!next) throw new Error('ScriptedTimes: the trainer asked for more times than the test scripted');
    return next;
  }
}
