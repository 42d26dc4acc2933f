// `unmask bench vqgan`: images per second for one VQGAN autoencoder training step as the trainer
// runs it before the discriminator starts: the session run that returns the L1 + codebook loss and
// every gradient, then the host-side Adam update. bench/pytorch_vqgan.py --bench times the same step
// (same architecture, loss, optimizer and batch) in PyTorch. The graph and session are built once.
import { performance } from 'node:perf_hooks';
import { adamInit, adamUpdate } from '../engine/optim.ts';
import { ParamStore } from '../engine/params.ts';
import { Rng } from '../engine/rng.ts';
import { TrainStep } from '../engine/trainstep.ts';
import { VQGAN_PRESETS, parseVqganConfig } from '../models/vqgan-config.ts';
import { buildAeGraph } from '../models/vqgan-loss.ts';

export interface VqganBenchOptions {
  /** A small preset of VQGAN_PRESETS; default 'fashion'. */
  config?: 'fashion' | 'emoji';
  /** Images per step; default 16, the presets' batch. */
  batch?: number;
  /** Timed steps; default 20. */
  runs?: number;
  /** Untimed steps first; default 3. */
  warmup?: number;
}

export interface VqganBenchResult {
  case: 'vqgan_train_step';
  config: string;
  batch: number;
  /** Median milliseconds per training step. */
  ms: number;
  images_per_second: number;
  runs: number;
}

export async function benchVqgan(opts: VqganBenchOptions = {}): Promise<VqganBenchResult> {
  const name = opts.config ?? 'fashion';
  const batch = opts.batch ?? 16;
  const runs = Math.max(1, opts.runs ?? 20);
  const warmup = opts.warmup ?? 3;
  const config = parseVqganConfig({ ...VQGAN_PRESETS[name], perceptual: 'none' });
  const ae = buildAeGraph(config, batch, false);
  const rng = new Rng(0);
  const params = ParamStore.init(ae.graph, rng);
  const step = await TrainStep.compile(ae.graph, ae.loss, { params: ae.trained, extra: ae.extra });
  const adam = adamInit(params, ae.trained);
  const x = Float32Array.from({ length: batch * config.channels * config.imageSize ** 2 }, () => rng.uniform(0, 1));
  const trainStep = async () => {
    const r = await step.run({ x }, params);
    adamUpdate(params, r.grads, adam, { lr: config.lr });
  };
  try {
    for (let i = 0; i < warmup; i++) await trainStep();
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await trainStep();
      times.push(performance.now() - t0);
    }
    const ms = median(times);
    return { case: 'vqgan_train_step', config: name, batch, ms, images_per_second: (batch * 1000) / ms, runs };
  } finally {
    await step.release();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
