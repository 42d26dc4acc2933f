// The prior's training recipe knobs against hand-computed values: the learning-rate schedule, the
// dropout masks fed to the training graph, and a few steps with every knob on that train and resume.
import { describe, expect, it } from 'vitest';
import { Graph } from '../../src/engine/graph.ts';
import { Rng } from '../../src/engine/rng.ts';
import { parsePriorConfig, priorInputs } from '../../src/models/prior-config.ts';
import type { LatentSet } from '../../src/data/latent-set.ts';
import { dropoutMasks } from '../../src/nn/dropout.ts';
import { PriorTrainer, initPriorState, priorLearningRate } from '../../src/training/train-prior.ts';

describe('learning-rate schedule', () => {
  it('warms up linearly, then stays constant (the reference)', () => {
    const c = parsePriorConfig({ codebookSize: 4, latent: 2, lr: 1e-3, warmup: 100 });
    expect(priorLearningRate(c, 0)).toBe(0);
    expect(priorLearningRate(c, 50)).toBeCloseTo(5e-4, 15);
    expect(priorLearningRate(c, 100)).toBe(1e-3);
    expect(priorLearningRate(c, 1e6)).toBe(1e-3);
  });

  it('decays along a cosine to a tenth of lr at lrDecaySteps, and stays there', () => {
    const c = parsePriorConfig({ codebookSize: 4, latent: 2, lr: 1e-3, warmup: 100, lrDecaySteps: 1100 });
    expect(priorLearningRate(c, 100)).toBeCloseTo(1e-3, 15);
    // half-way: 0.1 + 0.9·(1 + cos(π/2))/2 = 0.55
    expect(priorLearningRate(c, 600)).toBeCloseTo(0.55e-3, 15);
    expect(priorLearningRate(c, 1100)).toBeCloseTo(1e-4, 15);
    expect(priorLearningRate(c, 5000)).toBeCloseTo(1e-4, 15);
  });
});

describe('dropout masks', () => {
  it('zero about p of the values and scale the rest by 1/(1 − p), one input per dropout site', () => {
    const c = parsePriorConfig({ codebookSize: 4, latent: 4, dim: 16, layers: 2, heads: 2 });
    const g = new Graph();
    const inputs = priorInputs(g, c, 3, 0.1);
    for (let i = 0; i < 5; i++) inputs.drop!(g.input(`x${i}`, [3, 16, 16]));
    const masks = dropoutMasks(g, 0.1, new Rng(4));
    expect(Object.keys(masks)).toEqual(['dropout.0', 'dropout.1', 'dropout.2', 'dropout.3', 'dropout.4']);
    // p is rounded to a byte: 26/256
    const p = 26 / 256;
    let zeros = 0, total = 0;
    for (const m of Object.values(masks)) {
      for (const v of m) {
        if (v === 0) zeros++;
        else expect(v).toBeCloseTo(1 / (1 - p), 6);
        total++;
      }
    }
    // binomial standard error √(p(1−p)/3840) ≈ 0.0049; allow 4σ
    expect(Math.abs(zeros / total - p)).toBeLessThan(0.02);
    expect(dropoutMasks(g, 0.1, new Rng(4))['dropout.3']).toEqual(masks['dropout.3']);
  });
});

describe('prior training with every knob on', () => {
  it('trains with dropout, labels, a cosine mask-ratio schedule and the mlm loss, and replays exactly', async () => {
    const c = parsePriorConfig({
      codebookSize: 5, latent: 2, dim: 16, layers: 1, heads: 2, batch: 8, lr: 1e-2, warmup: 0, lrDecaySteps: 40,
      loss: 'mlm', timeSampling: 'cosine', dropout: 0.1, classes: ['a', 'b'],
    });
    // each grid's tokens follow from its position and label: learnable from the label alone
    const labels = Int32Array.from({ length: 8 }, (_, i) => i % 2);
    const data: LatentSet = { count: 8, tokens: Int32Array.from({ length: 32 }, (_, i) => ((i % 4) + 2 * labels[i >> 2]) % 5), labels };
    const run = async () => {
      const trainer = new PriorTrainer(c, initPriorState(c, 7), data);
      const losses: number[] = [];
      for (let i = 0; i < 40; i++) losses.push((await trainer.step()).loss);
      await trainer.release();
      return losses;
    };
    const a = await run();
    const b = await run();
    expect(b).toEqual(a);
    const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
    console.log(`mlm loss: first 10 steps ${mean(a.slice(0, 10)).toFixed(3)}, last 10 ${mean(a.slice(-10)).toFixed(3)}`);
    expect(mean(a.slice(-10))).toBeLessThan(mean(a.slice(0, 10)));
  });
});
