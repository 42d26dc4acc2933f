// End to end (issue 2, must-show 2): a small convnet built from nn/ layers, trained with TrainStep and
// Adam on 800 Fashion-MNIST training images, classifies 500 held-out validation images far above
// chance (10%). Everything is seeded — initialisation and batch order — so a second run with the same
// seed must retrace the first exactly.
import { describe, expect, it } from 'vitest';
import { loadFashion } from '../../src/data/fashion.ts';
import { fillBatch, type ImageSet } from '../../src/data/image-set.ts';
import * as F from '../../src/engine/api.ts';
import { Graph, type Tensor } from '../../src/engine/graph.ts';
import { adamInit, adamUpdate } from '../../src/engine/optim.ts';
import { ParamStore } from '../../src/engine/params.ts';
import { Rng } from '../../src/engine/rng.ts';
import { Program } from '../../src/engine/session.ts';
import { TrainStep } from '../../src/engine/trainstep.ts';
import { conv2d, linear } from '../../src/nn/layers.ts';
import { crossEntropy } from '../../src/nn/losses.ts';
import { Scope } from '../../src/nn/scope.ts';

const SEED = 1234;
const TRAIN = 800;
const VAL = 500;
const BATCH = 50;
const EPOCHS = 12;
const LR = 3e-3;
/**
 * Observed on the 2-core build machine: 82.4% with seed 1234; 83.0, 82.4, 80.6, 82.0% with seeds 1–4.
 * The bound sits below the worst of those, leaving room for float differences across CPUs.
 */
const MIN_VAL_ACCURACY = 0.78;

/** [B, 1, 28, 28] → logits [B, 10]: 28 → 14 → 7 with stride-2 convolutions, then one linear layer. */
function convnet(g: Graph, x: Tensor): Tensor {
  const s = new Scope(g);
  let h = F.relu(conv2d(s.sub('conv1'), x, 1, 16, 3, { padding: 1 })); // [B, 16, 28, 28]
  h = F.relu(conv2d(s.sub('conv2'), h, 16, 32, 3, { stride: 2, padding: 1 })); // [B, 32, 14, 14]
  h = F.relu(conv2d(s.sub('conv3'), h, 32, 32, 3, { stride: 2, padding: 1 })); // [B, 32, 7, 7]
  return linear(s.sub('fc'), F.reshape(h, [x.shape[0], 32 * 7 * 7]), 32 * 7 * 7, 10); // [B, 10]
}

function labels(set: ImageSet, indices: ArrayLike<number>): BigInt64Array {
  return BigInt64Array.from(Array.from(indices, (i) => BigInt(set.label!(i))));
}

describe('convnet on Fashion-MNIST', () => {
  it(`reaches ≥ ${MIN_VAL_ACCURACY * 100}% validation accuracy from ${TRAIN} training images, deterministically`, async () => {
    const start = performance.now();
    const { train, val } = loadFashion({ train: TRAIN, val: VAL });

    const g = new Graph();
    const x = g.input('x', [BATCH, 1, 28, 28]);
    const y = g.input('y', [BATCH], 'int64');
    const step = await TrainStep.compile(g, F.reduceMean(crossEntropy(convnet(g, x), y)));

    const ge = new Graph();
    const xe = ge.input('x', [VAL, 1, 28, 28]);
    const predict = await Program.compile(ge, { outputs: { pred: F.argMax(convnet(ge, xe), 1) } });
    const xv = new Float32Array(VAL * 28 * 28);
    fillBatch(val, Array.from({ length: VAL }, (_, i) => i), xv);

    async function run(seed: number, log: boolean): Promise<{ losses: number[]; pred: BigInt64Array }> {
      const rng = new Rng(seed);
      const params = ParamStore.init(g, rng);
      const adam = adamInit(params, step.trained);
      const xb = new Float32Array(BATCH * 28 * 28);
      const losses: number[] = [];
      for (let epoch = 0; epoch < EPOCHS; epoch++) {
        const order = rng.permutation(TRAIN);
        let sum = 0;
        for (let b = 0; b + BATCH <= TRAIN; b += BATCH) {
          const idx = order.subarray(b, b + BATCH);
          fillBatch(train, idx, xb);
          const r = await step.run({ x: xb, y: labels(train, idx) }, params);
          adamUpdate(params, r.grads, adam, { lr: LR });
          losses.push(r.loss);
          sum += r.loss;
        }
        if (log) console.log(`epoch ${epoch + 1}: mean training loss ${(sum / (TRAIN / BATCH)).toFixed(4)}`);
      }
      return { losses, pred: (await predict.run({ x: xv }, params)).pred.data as BigInt64Array };
    }

    const first = await run(SEED, true);
    let correct = 0;
    for (let i = 0; i < VAL; i++) if (Number(first.pred[i]) === val.label!(i)) correct++;
    const accuracy = correct / VAL;
    const seconds = (performance.now() - start) / 1000;
    console.log(`validation accuracy ${(accuracy * 100).toFixed(1)}% (${correct}/${VAL}; need ≥ ${MIN_VAL_ACCURACY * 100}%), ${seconds.toFixed(1)} s`);

    const again = await run(SEED, false);
    console.log(`second run with seed ${SEED}: ${again.losses.length} step losses and ${VAL} predictions compared, exact`);
    await step.release();
    await predict.release();

    expect(accuracy).toBeGreaterThanOrEqual(MIN_VAL_ACCURACY);
    expect(again.losses).toEqual(first.losses);
    expect(again.pred).toEqual(first.pred);
  });
});
