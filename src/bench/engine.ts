// Engine micro-benchmarks, the same three cases as bench/pytorch_engine.py: a 3×3 convolution's
// forward+backward, one transformer block's training step, and its baked inference pass. Graphs and
// sessions are built once; only session runs are timed, and each case reports the median.
import { performance } from 'node:perf_hooks';
import * as F from '../engine/api.ts';
import { grad } from '../engine/autodiff.ts';
import { Graph, type Tensor } from '../engine/graph.ts';
import { ParamStore } from '../engine/params.ts';
import { Rng } from '../engine/rng.ts';
import type { HostData } from '../engine/runtime.ts';
import { Program } from '../engine/session.ts';
import { TrainStep } from '../engine/trainstep.ts';
import { transformerBlock } from '../models/transformer.ts';
import { linear } from '../nn/layers.ts';
import { crossEntropy } from '../nn/losses.ts';
import { Scope } from '../nn/scope.ts';

export interface BenchCase {
  case: 'conv_fwd_bwd' | 'block_fwd_bwd' | 'block_fwd';
  ms: number;
  runs: number;
}

const CONV = { batch: 16, channels: 64, size: 32 } as const;
const BLOCK = { batch: 16, seq: 256, dim: 256, heads: 8, classes: 1024 } as const;

export async function benchEngine(opts: { runs?: number; warmup?: number; onResult?: (r: BenchCase) => void } = {}): Promise<BenchCase[]> {
  const runs = Math.max(5, opts.runs ?? 10);
  const warmup = opts.warmup ?? 2;
  const rng = new Rng(0);
  const results: BenchCase[] = [];
  const report = (r: BenchCase) => {
    results.push(r);
    opts.onResult?.(r);
  };

  const conv = await convFwdBwd(rng);
  report({ case: 'conv_fwd_bwd', ms: await medianMs(conv.run, runs, warmup), runs });
  await conv.release();

  const train = await blockFwdBwd(rng);
  report({ case: 'block_fwd_bwd', ms: await medianMs(train.run, runs, warmup), runs });
  await train.release();

  const infer = await blockFwd(rng);
  report({ case: 'block_fwd', ms: await medianMs(infer.run, runs, warmup), runs });
  await infer.release();
  return results;
}

interface Case {
  run: () => Promise<unknown>;
  release: () => Promise<void>;
}

/** Conv 3×3 64→64, pad 1, with bias; loss = Σ y·R; gradients for input, weight and bias. */
async function convFwdBwd(rng: Rng): Promise<Case> {
  const { batch, channels: c, size } = CONV;
  const g = new Graph();
  const x = g.input('x', [batch, c, size, size]);
  const r = g.input('r', [batch, c, size, size]);
  const w = g.param('weight', [c, c, 3, 3], { kind: 'normal', std: 0.05 });
  const b = g.param('bias', [c], { kind: 'normal', std: 0.05 });
  const y = F.add(F.conv(x, w, { pads: [1, 1, 1, 1] }), F.reshape(b, [1, c, 1, 1]));
  const loss = F.reduceSum(F.mul(y, r));
  const [dx, dw, db] = grad(loss, [x, w, b]);
  const program = await Program.compile(g, { outputs: { loss, dx, dw, db } });
  const params = ParamStore.init(g, rng);
  const feeds = { x: randn(rng, x.size), r: randn(rng, r.size) };
  return { run: () => program.run(feeds, params), release: () => program.release() };
}

/** One pre-LN block on x [B, N, d], a bias-free head to K logits, and cross-entropy over a random half of the positions. */
function blockGraph(): { g: Graph; logits: Tensor; loss: Tensor } {
  const { batch, seq, dim, heads, classes } = BLOCK;
  const g = new Graph();
  const s = new Scope(g);
  const x = g.input('x', [batch, seq, dim]);
  const targets = g.input('targets', [batch, seq], 'int64');
  const mask = g.input('mask', [batch, seq]);
  const h = transformerBlock(s.sub('blocks').sub(0), x, dim, heads);
  const logits = linear(s.sub('head'), h, dim, classes, { bias: false }); // [B, N, K]
  const loss = F.div(F.reduceSum(crossEntropy(logits, targets, mask)), F.reduceSum(mask));
  return { g, logits, loss };
}

function blockFeeds(rng: Rng): Record<string, HostData> {
  const { batch, seq, dim, classes } = BLOCK;
  const n = batch * seq;
  return {
    x: randn(rng, n * dim),
    targets: BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rng.uniform(0, classes)))),
    mask: Float32Array.from({ length: n }, () => (rng.uniform(0, 1) < 0.5 ? 1 : 0)),
  };
}

async function blockFwdBwd(rng: Rng): Promise<Case> {
  const { g, loss } = blockGraph();
  const step = await TrainStep.compile(g, loss);
  const params = ParamStore.init(g, rng);
  const feeds = blockFeeds(rng);
  return { run: () => step.run(feeds, params), release: () => step.release() };
}

async function blockFwd(rng: Rng): Promise<Case> {
  const { g, logits } = blockGraph();
  const params = ParamStore.init(g, rng);
  const program = await Program.compile(g, { outputs: { logits }, bake: params });
  const { x } = blockFeeds(rng);
  return { run: () => program.run({ x }), release: () => program.release() };
}

function randn(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

async function medianMs(run: () => Promise<unknown>, runs: number, warmup: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const m = times.length >> 1;
  return times.length % 2 ? times[m] : (times[m - 1] + times[m]) / 2;
}
