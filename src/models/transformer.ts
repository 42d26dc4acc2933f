// The absorbing-diffusion prior: a BERT-like pre-LN transformer over a flattened token grid
// (docs/method.md §2). Parameter names equal the reference PyTorch (minGPT-style) state-dict keys, so
// reference checkpoints load unchanged. One definition serves training (through autodiff) and sampling.
import * as F from '../engine/api.ts';
import { GraphError, type Tensor } from '../engine/graph.ts';
import { type KeyValueCache, multiHeadSelfAttention, selfAttentionStep } from '../nn/attention.ts';
import { embedding, gelu, linear } from '../nn/layers.ts';
import { layerNorm } from '../nn/norm.ts';
import type { Scope } from '../nn/scope.ts';

export interface TransformerConfig {
  /** K: number of VQ codes; the absorbing model's mask token is id K. */
  codebookSize: number;
  /** N: positions (h·w of the latent grid). */
  blockSize: number;
  /** d: embedding width. */
  dim: number;
  layers: number;
  heads: number;
  /**
   * The autoregressive twin: attention sees only earlier positions, the vocabulary has no mask
   * token, and a learned `start_tok` is prepended, so logits at position i predict token i.
   */
  causal: boolean;
  /**
   * Class labels C (0: unconditional). With C > 0 a label token leads the sequence, embedded by
   * `label_emb` [C + 1, d]; row C is the null label that classifier-free guidance trains with (label
   * dropout) and samples the unconditional branch with. The causal twin adds it to `start_tok`.
   */
  classes: number;
}

/** What training adds to a forward pass: labels for a class-conditional model, and dropout. */
export interface TransformerInputs {
  /** int64 [B] in 0..C (C = null); required when `classes` > 0. */
  labels?: Tensor;
  /** Applied to the embeddings and to each residual branch's output (dropout while training). */
  drop?: (x: Tensor) => Tensor;
}

/** The reference setting (≈ 77 M parameters). */
export const TRANSFORMER_DEFAULTS: Readonly<TransformerConfig> = {
  codebookSize: 1024,
  blockSize: 256,
  dim: 512,
  layers: 24,
  heads: 8,
  causal: false,
  classes: 0,
};

/** Pre-LN block: x + attn(ln1(x)), then x + mlp(ln2(x)) with mlp = Linear(d→4d), GELU (erf), Linear(4d→d). */
export function transformerBlock(s: Scope, x: Tensor, dim: number, heads: number, opts: { causal?: boolean; drop?: (x: Tensor) => Tensor } = {}): Tensor {
  const drop = opts.drop ?? ((t: Tensor) => t);
  const h = F.add(x, drop(multiHeadSelfAttention(s.sub('attn'), layerNorm(s.sub('ln1'), x, dim), dim, heads, opts)));
  return feedForwardResidual(s, h, dim, drop);
}

/** h + mlp(ln2(h)), the second half of a block. */
function feedForwardResidual(s: Scope, h: Tensor, dim: number, drop: (x: Tensor) => Tensor = (t) => t): Tensor {
  // The reference's nn.Sequential(Linear, GELU, Linear, Dropout) numbers its linears 0 and 2.
  const mlp = s.sub('mlp');
  const hidden = gelu(linear(mlp.sub(0), layerNorm(s.sub('ln2'), h, dim), dim, 4 * dim)); // [B, N, 4d]
  return F.add(h, drop(linear(mlp.sub(2), hidden, 4 * dim, dim))); // [B, N, d]
}

/** The label token's embedding [B, 1, d] for labels int64 [B]. */
function labelEmbedding(s: Scope, cfg: TransformerConfig, labels: Tensor | undefined): Tensor {
  if (!labels) throw new GraphError(`transformer: a class-conditional model (${cfg.classes} classes) needs labels`);
  return F.unsqueeze(embedding(s.sub('label_emb'), labels, cfg.classes + 1, cfg.dim), 1);
}

/**
 * The final hidden states (after ln_f) for tokens int64 [B, n]: [B, n, d], or [B, n + 1, d] when causal.
 * Bidirectional: n ≤ N tokens in 0..K (K = mask). Causal: n ≤ N − 1 tokens in 0..K−1; the first output
 * position is predicted from `start_tok`.
 */
export function transformerHidden(s: Scope, tokens: Tensor, cfg: TransformerConfig = TRANSFORMER_DEFAULTS, inputs: TransformerInputs = {}): Tensor {
  const { codebookSize: k, blockSize, dim, layers, heads, causal, classes } = cfg;
  if (tokens.dtype !== 'int64' || tokens.rank !== 2) throw new GraphError(`transformer: tokens must be int64 [B, n], got ${tokens}`);
  const [b, n] = tokens.shape;
  let x = embedding(s.sub('tok_emb'), tokens, causal ? k : k + 1, dim); // [B, n, d]
  if (causal) {
    let start = F.expand(s.param('start_tok', [1, 1, dim], { kind: 'zeros' }), [b, 1, dim]);
    if (classes > 0) start = F.add(start, labelEmbedding(s, cfg, inputs.labels));
    x = F.concat([start, x], 1); // [B, n + 1, d]
  }
  const len = x.shape[1];
  if (len > blockSize) throw new GraphError(`transformer: ${n} tokens exceed the block size ${blockSize}${causal ? ' − 1 (causal)' : ''}`);
  const pos = s.param('pos_emb', [1, blockSize, dim], { kind: 'zeros' });
  x = F.add(x, len === blockSize ? pos : F.slice(pos, [1], [0], [len]));
  // The label token leads the bidirectional sequence (no positional embedding; its table tells it apart).
  const label = !causal && classes > 0;
  if (label) x = F.concat([labelEmbedding(s, cfg, inputs.labels), x], 1); // [B, n + 1, d]
  if (inputs.drop) x = inputs.drop(x);
  const blocks = s.sub('blocks');
  for (let i = 0; i < layers; i++) x = transformerBlock(blocks.sub(i), x, dim, heads, { causal, drop: inputs.drop });
  const out = layerNorm(s.sub('ln_f'), x, dim);
  return label ? F.slice(out, [1], [1], [n + 1]) : out; // [B, n, d] (+1 when causal)
}

/** The output head Linear(d → K), no bias: hidden [..., d] → logits [..., K]. */
export function transformerHead(s: Scope, hidden: Tensor, cfg: TransformerConfig = TRANSFORMER_DEFAULTS): Tensor {
  return linear(s.sub('head'), hidden, cfg.dim, cfg.codebookSize, { bias: false });
}

/** Logits [B, n, K] for tokens int64 [B, n] (see transformerHidden). */
export function transformer(s: Scope, tokens: Tensor, cfg: TransformerConfig = TRANSFORMER_DEFAULTS, inputs: TransformerInputs = {}): Tensor {
  return transformerHead(s, transformerHidden(s, tokens, cfg, inputs), cfg);
}

/**
 * One left-to-right decoding step of the causal twin, with the same parameters as `transformer`.
 * `prev` int64 [B, 1] is the token at position t − 1 (ignored at t = 0, where `start_tok` stands in),
 * `t` int64 [1] the position, `caches` each layer's keys/values of positions < t, `labels` int64 [B] for
 * a class-conditional model. Returns the logits
 * for token t [B, K] and each layer's key/value at t [B, H, 1, d_head], for the caller to store.
 */
export function transformerStep(s: Scope, prev: Tensor, t: Tensor, caches: KeyValueCache[], cfg: TransformerConfig, labels?: Tensor): { logits: Tensor; cache: KeyValueCache[] } {
  const { codebookSize: k, blockSize: n, dim, layers, heads } = cfg;
  if (!cfg.causal) throw new GraphError('transformer step: only the causal twin decodes left to right');
  if (caches.length !== layers) throw new GraphError(`transformer step: ${caches.length} caches for ${layers} layers`);
  const [b] = prev.shape;
  let start = F.expand(s.param('start_tok', [1, 1, dim], { kind: 'zeros' }), [b, 1, dim]);
  if (cfg.classes > 0) start = F.add(start, labelEmbedding(s, cfg, labels));
  let x = F.where(F.equal(t, 0), start, embedding(s.sub('tok_emb'), prev, k, dim)); // [B, 1, d]
  x = F.add(x, F.gather(s.param('pos_emb', [1, n, dim], { kind: 'zeros' }), t, 1));
  const positions = F.constant(t, [n], Array.from({ length: n }, (_, i) => i), 'int64');
  const pastMask = F.mul(F.sub(F.cast(F.less(positions, t), 'float32'), 1), 1e9); // [N]: 0 before t, −1e9 from t on
  const blocks = s.sub('blocks');
  const cache: KeyValueCache[] = [];
  for (let i = 0; i < layers; i++) {
    const bs = blocks.sub(i);
    const a = selfAttentionStep(bs.sub('attn'), layerNorm(bs.sub('ln1'), x, dim), dim, heads, caches[i], pastMask);
    x = feedForwardResidual(bs, F.add(x, a.y), dim);
    cache.push({ key: a.key, value: a.value });
  }
  const logits = transformerHead(s, layerNorm(s.sub('ln_f'), x, dim), cfg); // [B, 1, K]
  return { logits: F.reshape(logits, [b, k]), cache };
}
