// A model directory with the released models' shapes (Bond-Taylor et al. 2022: a VQGAN for 256×256
// images, nf 128, ch_mult [1, 1, 2, 2, 4], 1024 codes of width 256; a 24-layer prior of width 512 with
// 8 heads over 16×16 tokens) and PyTorch's default random initialisation, stored as float16 like an
// imported model with --fp16. For end-to-end runs at the paper's size; it samples noise.
import { saveCheckpoint } from '../../src/engine/checkpoint.ts';
import { Graph } from '../../src/engine/graph.ts';
import { ParamStore } from '../../src/engine/params.ts';
import { Rng } from '../../src/engine/rng.ts';
import { encodeSafetensors, paramsToTensors } from '../../src/engine/safetensors.ts';
import { PRIOR_KIND, TOKENIZER_FILE } from '../../src/inference/model-format.ts';
import { parsePriorConfig, transformerConfig } from '../../src/models/prior-config.ts';
import { TRANSFORMER_DEFAULTS, transformer } from '../../src/models/transformer.ts';
import { VQGAN_256 } from '../../src/models/vqgan-config.ts';
import { codebook, encoder, generator } from '../../src/models/vqgan.ts';
import { Scope } from '../../src/nn/scope.ts';

export const PAPER_PRIOR = parsePriorConfig({ codebookSize: VQGAN_256.codebookSize, latent: 16, dim: TRANSFORMER_DEFAULTS.dim, layers: TRANSFORMER_DEFAULTS.layers, heads: TRANSFORMER_DEFAULTS.heads });

export function writePaperShapedModel(dir: string, seed = 1): { tokenizerParameters: number; priorParameters: number } {
  const vq = VQGAN_256;
  const tg = new Graph();
  const ts = new Scope(tg);
  const z = encoder(ts.sub('encoder'), tg.input('x', [1, vq.channels, vq.imageSize, vq.imageSize]), vq);
  codebook(ts.sub('quantize'), vq);
  generator(ts.sub('generator'), z, vq);
  const pg = new Graph();
  transformer(new Scope(pg), pg.input('tokens', [1, PAPER_PRIOR.latent ** 2], 'int64'), transformerConfig(PAPER_PRIOR));
  const rng = new Rng(seed);
  const tokenizer = ParamStore.init(tg, rng);
  const prior = ParamStore.init(pg, rng);
  saveCheckpoint(dir, {
    config: { kind: PRIOR_KIND, prior: PAPER_PRIOR, tokenizer: vq },
    params: prior,
    state: { step: 0 },
    files: { [TOKENIZER_FILE]: encodeSafetensors(paramsToTensors(tokenizer, 'F16')), 'model-card.md': '# Paper-shaped model with random weights\n\nFor end-to-end tests at 256×256; it draws noise.\n' },
    fp16: true,
  });
  return { tokenizerParameters: tokenizer.count(), priorParameters: prior.count() };
}
