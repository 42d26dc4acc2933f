// Training the autoregressive baseline (the prior's causal twin) by teacher forcing, with the prior's
// optimizer settings and train state, so `unmask train prior --causal` shares the prior's run code.
import type { LatentSet } from '../data/latent-set.ts';
import type { Graph } from '../engine/graph.ts';
import { adamUpdate, clipGradNorm, emaUpdate } from '../engine/optim.ts';
import { TrainStep } from '../engine/trainstep.ts';
import type { PriorConfig } from '../models/prior-config.ts';
import { assertCausal, buildAutoregressiveGraph } from '../inference/autoregressive.ts';
import { dropoutMasks } from '../nn/dropout.ts';
import { type PriorStepInfo, type PriorTrainState, batchLabels, priorLearningRate } from './train-prior.ts';

/** Trains the causal twin with the prior's optimizer settings (Adam, warm-up, clipping, EMA). */
export class AutoregressiveTrainer {
  private program: TrainStep | null = null;
  private graph: Graph | null = null;

  constructor(
    readonly config: PriorConfig,
    readonly state: PriorTrainState,
    readonly data: LatentSet,
  ) {
    assertCausal(config);
  }

  /** One step; `elbo` in the result is the batch's exact NLL in bits per token. */
  async step(): Promise<PriorStepInfo> {
    const c = this.config;
    const s = this.state;
    const t0 = performance.now();
    if (!this.program) {
      const g = buildAutoregressiveGraph(c, c.batch, c.dropout);
      this.graph = g.graph;
      this.program = await TrainStep.compile(g.graph, g.loss, { extra: { nll: g.nll } });
    }
    const n = c.latent * c.latent;
    const x0 = new BigInt64Array(c.batch * n);
    const picked = new Int32Array(c.batch);
    for (let b = 0; b < c.batch; b++) {
      const i = s.rng.int(this.data.count);
      picked[b] = i;
      for (let j = 0; j < n; j++) x0[b * n + j] = BigInt(this.data.tokens[i * n + j]);
    }
    const feeds: Record<string, BigInt64Array | Float32Array> = { x0, ...dropoutMasks(this.graph!, c.dropout, s.rng) };
    if (c.classes.length) feeds.labels = batchLabels(c, this.data, picked, s.rng);
    const r = await this.program.run(feeds, s.params);
    const gradNorm = c.gradClip > 0 ? clipGradNorm(r.grads, c.gradClip) : 0;
    const lr = priorLearningRate(c, s.step);
    adamUpdate(s.params, r.grads, s.opt, { lr });
    emaUpdate(s.ema, s.params, c.emaDecay);
    s.step++;
    const nll = (r.outputs.nll.data as Float32Array).reduce((a, v) => a + v, 0) / c.batch;
    return { step: s.step, loss: r.loss, elbo: nll / (Math.LN2 * n), gradNorm, lr, samplesPerSecond: c.batch / ((performance.now() - t0) / 1000) };
  }

  async release(): Promise<void> {
    await this.program?.release();
    this.program = null;
  }
}
