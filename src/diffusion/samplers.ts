// Samplers share one step interface (as diffusers' schedulers do): at step s of S a sampler names the
// masked positions whose predictions it needs, then, given their log-probabilities, reveals some of
// them. Tasks only decide which tokens are given; no task has its own sampling loop.
import type { Rng } from '../engine/rng.ts';

export type SamplerName = 'random' | 'confidence';

/** One token grid being sampled (one batch row). */
export interface RowState {
  /** Tokens; `maskId` where still unknown. */
  tokens: Int32Array;
  /** How many tokens were unknown at the start (the schedule's N). */
  unknownAtStart: number;
}

export interface StepContext {
  step: number;
  steps: number;
  maskId: number;
  codebookSize: number;
  temperature: number;
  rng: Rng;
}

export interface Sampler {
  readonly name: SamplerName;
  /** Positions whose log-probabilities are needed at this step (each currently masked). */
  query(row: RowState, c: StepContext): Int32Array;
  /** Reveals positions of `query` given their log-probabilities [query.length, K]. */
  reveal(row: RowState, query: Int32Array, logp: Float32Array, c: StepContext): void;
}

export function maskedPositions(row: RowState, maskId: number): Int32Array {
  let n = 0;
  for (const v of row.tokens) if (v === maskId) n++;
  const out = new Int32Array(n);
  let j = 0;
  row.tokens.forEach((v, i) => {
    if (v === maskId) out[j++] = i;
  });
  return out;
}

/** Draws from softmax(logp / temperature) over one row of K log-probabilities; returns [index, its tempered log-prob]. */
export function drawTempered(logp: Float32Array, offset: number, k: number, temperature: number, rng: Rng): [number, number] {
  let max = -Infinity;
  for (let i = 0; i < k; i++) max = Math.max(max, logp[offset + i] / temperature);
  let z = 0;
  for (let i = 0; i < k; i++) z += Math.exp(logp[offset + i] / temperature - max);
  let u = rng.next() * z;
  let pick = k - 1;
  for (let i = 0; i < k; i++) {
    u -= Math.exp(logp[offset + i] / temperature - max);
    if (u < 0) {
      pick = i;
      break;
    }
  }
  return [pick, logp[offset + pick] / temperature - max - Math.log(z)];
}

/**
 * The paper's sampler: at step s (t = S − s counting down), every still-masked position is revealed
 * with probability 1/t, so about (#masked)/t per step and all of them at t = 1. Only the positions
 * chosen are predicted.
 */
export const randomSampler: Sampler = {
  name: 'random',
  query(row, c) {
    const t = c.steps - c.step;
    const masked = maskedPositions(row, c.maskId);
    if (t <= 1) return masked;
    return masked.filter(() => c.rng.next() < 1 / t);
  },
  reveal(row, query, logp, c) {
    const k = c.codebookSize;
    query.forEach((pos, j) => {
      row.tokens[pos] = drawTempered(logp, j * k, k, c.temperature, c.rng)[0];
    });
  },
};

/** Gumbel noise scale at step s: 4.5·(1 − (s+1)/S), MaskGIT's choice temperature annealed to 0. */
export function gumbelScale(step: number, steps: number): number {
  return 4.5 * (1 - (step + 1) / steps);
}

/** How many positions stay masked after step s: ⌊U·cos(π/2·(s+1)/S)⌋, MaskGIT's cosine schedule. */
export function cosineRemaining(unknown: number, step: number, steps: number): number {
  return Math.floor(unknown * Math.cos((Math.PI / 2) * ((step + 1) / steps)));
}

/**
 * MaskGIT's confidence order: predict every masked position, sample a value for each, score it by its
 * log-probability plus annealed Gumbel noise, and keep the lowest-scoring ones masked following the
 * cosine schedule (at least one revealed per step; all revealed at the last step).
 */
export const confidenceSampler: Sampler = {
  name: 'confidence',
  query(row, c) {
    return maskedPositions(row, c.maskId);
  },
  reveal(row, query, logp, c) {
    const k = c.codebookSize;
    const m = query.length;
    const values = new Int32Array(m);
    const scores = new Float64Array(m);
    const tau = gumbelScale(c.step, c.steps);
    for (let j = 0; j < m; j++) {
      const [v, lp] = drawTempered(logp, j * k, k, c.temperature, c.rng);
      values[j] = v;
      const u = Math.max(c.rng.next(), 1e-20);
      scores[j] = lp + tau * -Math.log(-Math.log(u));
    }
    const last = c.step >= c.steps - 1;
    let keep = last ? 0 : Math.max(1, cosineRemaining(row.unknownAtStart, c.step, c.steps));
    keep = Math.max(0, Math.min(keep, m - 1));
    const order = Array.from({ length: m }, (_, j) => j).sort((a, b) => scores[a] - scores[b]);
    for (let r = keep; r < m; r++) row.tokens[query[order[r]]] = values[order[r]];
  },
};

export const SAMPLERS: Record<SamplerName, Sampler> = { random: randomSampler, confidence: confidenceSampler };
