// `unmask bench decode`: milliseconds per image for the VQGAN decoder (codes → image) of the paper's
// 256×256 models (docs/method.md §1: nf 128, ch_mult [1,1,2,2,4], 2 res blocks, attention at 16,
// emb 256, 16×16 codes) on random weights, through the same Tokenizer.decode that every task uses.
import { Graph } from '../engine/graph.ts';
import { ParamStore } from '../engine/params.ts';
import { Rng } from '../engine/rng.ts';
import { embedCodes, encoder, generator } from '../models/vqgan.ts';
import { VQGAN_256 } from '../models/vqgan-config.ts';
import { Scope } from '../nn/scope.ts';
import { Tokenizer } from '../inference/tokenizer.ts';

export interface DecodeBenchResult {
  case: 'decode_256';
  batch: number;
  /** Median wall time of one decode call for the batch. */
  ms: number;
  ms_per_image: number;
  runs: number;
}

export async function benchDecode(o: { batch: number; runs: number }): Promise<DecodeBenchResult> {
  const c = VQGAN_256;
  const latent = c.imageSize / 2 ** (c.chMult.length - 1);
  const g = new Graph();
  const s = new Scope(g);
  // A whole tokenizer's parameters (the encoder's too), as Tokenizer.fromParams checks; only the decoder runs.
  encoder(s.sub('encoder'), g.input('x', [1, c.channels, c.imageSize, c.imageSize]), c);
  generator(s.sub('generator'), embedCodes(s.sub('quantize'), g.input('codes', [1, latent, latent], 'int64'), c), c);
  const tokenizer = Tokenizer.fromParams(c, ParamStore.init(g, new Rng(0)));
  const rng = new Rng(1);
  const codes = Int32Array.from({ length: o.batch * latent * latent }, () => rng.int(c.codebookSize));
  for (let i = 0; i < 2; i++) await tokenizer.decode(codes, o.batch);
  const times: number[] = [];
  for (let r = 0; r < o.runs; r++) {
    const t = performance.now();
    await tokenizer.decode(codes, o.batch);
    times.push(performance.now() - t);
  }
  await tokenizer.release();
  const ms = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
  return { case: 'decode_256', batch: o.batch, ms, ms_per_image: ms / o.batch, runs: o.runs };
}
