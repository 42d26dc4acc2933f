// Absorbing-diffusion prior configuration: validated at the boundary, reference defaults written once.
import { z } from 'zod';
import { parseConfig } from './parse-config.ts';
import type { Graph } from '../engine/graph.ts';
import { dropoutSites } from '../nn/dropout.ts';
import { SAMPLER_NAMES } from '../diffusion/samplers.ts';
import { TIME_SAMPLINGS } from '../diffusion/absorbing.ts';
import type { TransformerConfig, TransformerInputs } from './transformer.ts';

/** `--class` values that are not class names: each result's class drawn as the training data has them, or the null label. */
export const ANY_CLASS = 'any';
export const NO_CLASS = 'none';

export const PriorConfigSchema = z
  .object({
    /** K (from the tokenizer); the mask token is K. */
    codebookSize: z.number().int().min(2),
    /** Latent grid side h = w (from the tokenizer); N = h·w tokens. */
    latent: z.number().int().min(1),
    dim: z.number().int().min(8).default(512),
    layers: z.number().int().min(1).default(24),
    heads: z.number().int().min(1).default(8),
    /** The autoregressive baseline: the causal twin trained on next-token cross-entropy, sampled left to right. */
    causal: z.boolean().default(false),
    loss: z.enum(['elbo', 'reweighted_elbo', 'mlm']).default('reweighted_elbo'),
    /** How training times (mask ratios) are drawn; see TimeSampling in src/diffusion/absorbing.ts. */
    timeSampling: z.enum(TIME_SAMPLINGS).default('uniform'),
    maskSchedule: z.enum(['random', 'fixed']).default('random'),
    lr: z.number().positive().default(2e-4),
    warmup: z.number().int().min(0).default(10000),
    /** Cosine decay of the learning rate to a tenth of `lr` at this step, constant after (0: no decay, the reference). */
    lrDecaySteps: z.number().int().min(0).default(0),
    batch: z.number().int().min(1).default(20),
    emaDecay: z.number().min(0).max(1).default(0.995),
    /** Global gradient-norm clip (0: none). */
    gradClip: z.number().min(0).default(0),
    /** Dropout on the embeddings and on each residual branch while training (the reference's embd/resid_pdrop; 0 there). */
    dropout: z.number().min(0).max(0.9).default(0),
    /** Also train on the codes of left–right mirrored images (data augmentation). */
    flip: z.boolean().default(false),
    /** Class names of a class-conditional prior (label i is classes[i]); empty: unconditional. */
    classes: z.array(z.string().min(1)).default([]),
    /**
     * Each class's share of the training images (same order as `classes`), recorded at training so that
     * sampling "any class" draws classes as the data has them; empty for priors trained before it was
     * recorded (then every class is equally likely).
     */
    classFrequencies: z.array(z.number().min(0).max(1)).default([]),
    /** Fraction of training grids whose label is replaced by the null label (classifier-free guidance). */
    labelDropout: z.number().min(0).max(1).default(0.1),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.dim % c.heads !== 0) ctx.addIssue({ code: 'custom', path: ['heads'], message: `dim ${c.dim} must be divisible by heads` });
    if (new Set(c.classes.map((name) => name.toLowerCase())).size !== c.classes.length) ctx.addIssue({ code: 'custom', path: ['classes'], message: 'class names must differ (ignoring case)' });
    for (const reserved of [ANY_CLASS, NO_CLASS]) if (c.classes.some((name) => name.toLowerCase() === reserved)) ctx.addIssue({ code: 'custom', path: ['classes'], message: `'${reserved}' is reserved (--class ${reserved}), not a class name` });
    if (c.classFrequencies.length && c.classFrequencies.length !== c.classes.length) ctx.addIssue({ code: 'custom', path: ['classFrequencies'], message: `one frequency per class (${c.classes.length}), got ${c.classFrequencies.length}` });
  });

export type PriorConfig = z.output<typeof PriorConfigSchema>;

/**
 * The sampling settings a model recommends (config.json's `sampling`, written by `unmask export --report`
 * from the evaluation's best row): what `unmask sample` and the web app use unless told otherwise.
 */
export const SamplingDefaultsSchema = z
  .object({
    schedule: z.enum(SAMPLER_NAMES),
    steps: z.number().int().min(1),
    temperature: z.number().positive(),
    choiceTemperature: z.number().min(0).optional(),
    /** Where the choice came from, e.g. the report and its FID. */
    from: z.string().optional(),
  })
  .strict();

export type SamplingDefaults = z.output<typeof SamplingDefaultsSchema>;

export function parseSamplingDefaults(raw: unknown): SamplingDefaults | null {
  return raw === undefined ? null : parseConfig(SamplingDefaultsSchema, raw, 'sampling');
}

/** Small settings that train on two CPU cores; codebookSize and latent come from the tokenizer. */
export const PRIOR_PRESETS: Record<string, Partial<PriorConfig>> = {
  small: { dim: 256, layers: 8, heads: 8, lr: 5e-4, warmup: 500, batch: 32, emaDecay: 0.999, gradClip: 1 },
  /** What trains in under an hour on two cores for 8×8 grids (Fashion-MNIST, 32-px emoji). */
  compact: { dim: 256, layers: 6, heads: 8, lr: 5e-4, warmup: 300, batch: 32, emaDecay: 0.998, gradClip: 1 },
};

export function parsePriorConfig(raw: unknown): PriorConfig {
  return parseConfig(PriorConfigSchema, raw, 'prior');
}

/** The transformer a prior runs: N = latent² positions, K codes plus the mask token. */
export function transformerConfig(c: PriorConfig): TransformerConfig {
  return { codebookSize: c.codebookSize, blockSize: c.latent * c.latent, dim: c.dim, layers: c.layers, heads: c.heads, causal: c.causal, classes: c.classes.length };
}

/** A graph's labels input [batch] for a class-conditional prior, and dropout sites when `dropout` > 0 (training). */
export function priorInputs(graph: Graph, c: PriorConfig, batch: number, dropout = 0): TransformerInputs {
  const labels = c.classes.length > 0 ? graph.input('labels', [batch], 'int64') : undefined;
  return dropout > 0 ? { labels, drop: dropoutSites(graph) } : { labels };
}

/** The null label for every row: a class-conditional prior's unconditional branch. */
export function nullLabels(c: PriorConfig, batch: number): BigInt64Array {
  return new BigInt64Array(batch).fill(BigInt(c.classes.length));
}
