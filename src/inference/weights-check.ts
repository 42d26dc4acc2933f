// Config/weights agreement for every model that loads (Node and browser): the tensors a config.json
// declares — found by building the model's graph, which declares its parameters — against the tensors
// the weights file holds. Missing, extra and mis-shaped tensors are named, so a config saying 1 layer
// over weights holding 6 is refused instead of sampling from a sixth of the model.
import { Graph, type Shape, fmtShape } from '../engine/graph.ts';
import type { ParamStore } from '../engine/params.ts';
import { UnmaskError } from '../errors.ts';
import { Scope } from '../nn/scope.ts';
import { type PriorConfig, priorInputs, transformerConfig } from '../models/prior-config.ts';
import { transformer } from '../models/transformer.ts';
import { type VqganConfig, latentSize } from '../models/vqgan-config.ts';
import { embedCodes, encoder, generator, probabilisticGenerator } from '../models/vqgan.ts';

/** The parameters (name → shape) that the graph `build` makes declares. */
export function declaredShapes(build: (s: Scope, g: Graph) => void): Map<string, Shape> {
  const g = new Graph();
  build(new Scope(g), g);
  return new Map([...g.params.values()].map((p) => [p.name, p.shape]));
}

const LISTED = 3;

function listed(items: string[]): string {
  return items.length <= LISTED ? items.join(', ') : `${items.slice(0, LISTED).join(', ')} and ${items.length - LISTED} more`;
}

/**
 * Refuses weights that do not match the config: `source` names the files ("runs/p (prior weights)");
 * tensors for which `ignore` is true may be present without being declared (a VQGAN run's
 * discriminator beside its tokenizer).
 */
export function checkWeights(store: ParamStore, expected: Map<string, Shape>, source: string, ignore: (name: string) => boolean = () => false): void {
  const missing: string[] = [];
  const misshaped: string[] = [];
  for (const [name, shape] of expected) {
    if (!store.has(name)) missing.push(`${name} ${fmtShape(shape)}`);
    else if (fmtShape(store.get(name).shape) !== fmtShape(shape)) misshaped.push(`${name} is ${fmtShape(store.get(name).shape)} where config.json needs ${fmtShape(shape)}`);
  }
  const extra = store.names().filter((n) => !expected.has(n) && !ignore(n));
  if (!missing.length && !misshaped.length && !extra.length) return;
  const parts = [
    missing.length ? `${missing.length} tensor(s) missing (${listed(missing)})` : '',
    extra.length ? `${extra.length} tensor(s) config.json does not declare (${listed(extra)})` : '',
    misshaped.length ? `${misshaped.length} mis-shaped (${listed(misshaped)})` : '',
  ].filter(Boolean);
  throw new UnmaskError(`${source} do not match config.json: ${parts.join('; ')}`, 'the config and the weights come from different models; export or copy the model again, or restore its config.json');
}

/** The prior's parameters for `c`, as the transformer declares them. */
export function priorShapes(c: PriorConfig): Map<string, Shape> {
  const n = c.latent * c.latent;
  // The causal twin reads N − 1 tokens (start_tok takes the first place).
  return declaredShapes((s, g) => transformer(s, g.input('tokens', [1, c.causal ? n - 1 : n], 'int64'), transformerConfig(c), priorInputs(g, c, 1)));
}

/**
 * The tokenizer's parameters for `c`: what its encoder, codebook and generator graphs read, and the
 * optional log σ head of an imported reference VQGAN when `likelihoodHead` (its weights are present).
 */
export function tokenizerShapes(c: VqganConfig, likelihoodHead = false): Map<string, Shape> {
  const l = latentSize(c);
  return declaredShapes((s, g) => {
    encoder(s.sub('encoder'), g.input('x', [1, c.channels, c.imageSize, c.imageSize]), c);
    const z = embedCodes(s.sub('quantize'), g.input('codes', [1, l, l], 'int64'), c);
    if (likelihoodHead) probabilisticGenerator(s.sub('generator'), z, c);
    else generator(s.sub('generator'), z, c);
  });
}
