// A model directory with the released models' shapes (Bond-Taylor et al. 2022: a VQGAN for 256×256
// images, nf 128, ch_mult [1, 1, 2, 2, 4], two res blocks per level, attention at 16 px, 1024 codes of
// width 256; a 24-layer prior of width 512 with 8 heads over 16×16 tokens) and PyTorch's default random
// initialisation, stored as float16 like an imported model with --fp16. It samples noise. `narrow`
// keeps the structure (levels, blocks, attention, codes, layers, heads, grid) at a fraction of the
// widths (nf 32, ch_mult [1, 1, 1, 1, 2], codes of width 32, prior width 64), for tests; `logSigma` adds
// the likelihood head.
import { saveCheckpoint } from '../../src/engine/checkpoint.ts';
import { Graph } from '../../src/engine/graph.ts';
import { ParamStore } from '../../src/engine/params.ts';
import { Rng } from '../../src/engine/rng.ts';
import { encodeSafetensors, paramsToTensors } from '../../src/engine/safetensors.ts';
import { PRIOR_KIND, TOKENIZER_FILE } from '../../src/inference/model-format.ts';
import { parsePriorConfig, transformerConfig } from '../../src/models/prior-config.ts';
import { TRANSFORMER_DEFAULTS, transformer } from '../../src/models/transformer.ts';
import { VQGAN_256, parseVqganConfig } from '../../src/models/vqgan-config.ts';
import { codebook, encoder, generator, probabilisticGenerator } from '../../src/models/vqgan.ts';
import { Scope } from '../../src/nn/scope.ts';

export function writePaperShapedModel(dir: string, o: { narrow?: boolean; logSigma?: boolean; seed?: number } = {}): { tokenizerParameters: number; priorParameters: number } {
  const vq = o.narrow ? parseVqganConfig({ ...VQGAN_256, nf: 32, chMult: [1, 1, 1, 1, 2], embDim: 32 }) : VQGAN_256;
  const prior = parsePriorConfig({ codebookSize: vq.codebookSize, latent: 16, dim: o.narrow ? 64 : TRANSFORMER_DEFAULTS.dim, layers: TRANSFORMER_DEFAULTS.layers, heads: TRANSFORMER_DEFAULTS.heads });
  const tg = new Graph();
  const ts = new Scope(tg);
  const z = encoder(ts.sub('encoder'), tg.input('x', [1, vq.channels, vq.imageSize, vq.imageSize]), vq);
  codebook(ts.sub('quantize'), vq);
  if (o.logSigma) probabilisticGenerator(ts.sub('generator'), z, vq);
  else generator(ts.sub('generator'), z, vq);
  const pg = new Graph();
  transformer(new Scope(pg), pg.input('tokens', [1, prior.latent ** 2], 'int64'), transformerConfig(prior));
  const rng = new Rng(o.seed ?? 1);
  const tokenizer = ParamStore.init(tg, rng);
  const priorParams = ParamStore.init(pg, rng);
  saveCheckpoint(dir, {
    config: { kind: PRIOR_KIND, prior, tokenizer: vq },
    params: priorParams,
    state: { step: 0 },
    files: { [TOKENIZER_FILE]: encodeSafetensors(paramsToTensors(tokenizer, 'F16')), 'model-card.md': '# Paper-shaped model with random weights\n\nFor end-to-end tests at 256×256; it draws noise.\n' },
    fp16: true,
  });
  return { tokenizerParameters: tokenizer.count(), priorParameters: priorParams.count() };
}
