// Samplers share one step interface (as diffusers' schedulers do): at step s of S a sampler names the
// masked positions whose predictions it needs, then, given their log-probabilities, reveals some of
// them. Tasks only decide which tokens are given; no task has its own sampling loop.
import type { Rng } from '../engine/rng.ts';

export const SAMPLER_NAMES = ['random', 'confidence', 'halton', 'remask'] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];

/** One token grid being sampled (one batch row). */
export interface RowState {
  /** Tokens; `maskId` where still unknown. */
  tokens: Int32Array;
  /** How many tokens were unknown at the start (the schedule's N). */
  unknownAtStart: number;
  /** 1 where the token was given (known at the start): no sampler may change it. */
  given: Uint8Array;
}

export interface StepContext {
  step: number;
  steps: number;
  maskId: number;
  codebookSize: number;
  temperature: number;
  /** The confidence order's Gumbel noise scale at the first step (MaskGIT's choice temperature), annealed to 0. */
  choiceTemperature: number;
  rng: Rng;
  /** The token grid [h, w] (rows are h·w tokens, row-major). */
  grid: readonly [number, number];
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

/** MaskGIT's choice temperature: the scale of the Gumbel noise on the confidence order's scores. */
export const CHOICE_TEMPERATURE = 4.5;

/** Gumbel noise scale at step s: τ·(1 − (s+1)/S), the choice temperature τ annealed linearly to 0. */
export function gumbelScale(step: number, steps: number, tau = CHOICE_TEMPERATURE): number {
  return tau * (1 - (step + 1) / steps);
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
    const tau = gumbelScale(c.step, c.steps, c.choiceTemperature);
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

/** The radical inverse of i in base b: i's digits mirrored behind the point (van der Corput). */
function radicalInverse(i: number, b: number): number {
  let f = 1;
  let r = 0;
  for (let x = i; x > 0; x = Math.floor(x / b)) {
    f /= b;
    r += f * (x % b);
  }
  return r;
}

const haltonOrders = new Map<string, Int32Array>();

/**
 * The Halton reveal order of an h×w grid (Besnier et al., ICLR 2025): the 2-D Halton sequence (base 2
 * across, base 3 down) scaled to the grid, each cell kept at its first visit, until every cell has
 * been visited. Consecutive positions are spread evenly over the grid, so tokens revealed in the same
 * step are far apart and nearly independent given what is already known. A permutation of 0..h·w−1.
 */
export function haltonOrder(h: number, w: number): Int32Array {
  const key = `${h}x${w}`;
  let order = haltonOrders.get(key);
  if (!order) {
    const seen = new Uint8Array(h * w);
    order = new Int32Array(h * w);
    let filled = 0;
    for (let i = 1; filled < h * w; i++) {
      const pos = Math.floor(radicalInverse(i, 3) * h) * w + Math.floor(radicalInverse(i, 2) * w);
      if (!seen[pos]) {
        seen[pos] = 1;
        order[filled++] = pos;
      }
    }
    haltonOrders.set(key, order);
  }
  return order;
}

/** Tokens revealed by the end of step s (Halton MaskGIT's arccos schedule): ⌊U·(1 − arccos((s+1)/S)/(π/2))⌋, at least s + 1, U at the last step. */
export function arccosRevealed(unknown: number, step: number, steps: number): number {
  if (step >= steps - 1) return unknown;
  const x = (step + 1) / steps;
  return Math.min(unknown, Math.max(step + 1, Math.floor(unknown * (1 - Math.acos(x) / (Math.PI / 2)))));
}

/**
 * The Halton order: at each step, the next still-masked positions in the grid's Halton order, as many
 * as the arccos schedule asks, each drawn from the model at the temperature. With no confidence
 * ranking, more steps only add information, so quality keeps improving with steps.
 */
export const haltonSampler: Sampler = {
  name: 'halton',
  query(row, c) {
    const masked = maskedPositions(row, c.maskId).length;
    const want = arccosRevealed(row.unknownAtStart, c.step, c.steps) - (row.unknownAtStart - masked);
    const out: number[] = [];
    for (const pos of haltonOrder(c.grid[0], c.grid[1])) {
      if (out.length >= want) break;
      if (row.tokens[pos] === c.maskId) out.push(pos);
    }
    return Int32Array.from(out);
  },
  reveal: randomSampler.reveal,
};

/** ReMDM's cap η on the probability of re-masking a revealed token at a step. */
export const REMASK_CAP = 0.05;

/**
 * Adds re-masking in the spirit of ReMDM (Wang et al., 2025) to a sampler: after the base sampler's
 * reveal at step s (all but the last), each token revealed at an earlier step (never a given one) is
 * masked again with probability σ = min(η, (1 − α_s)/α_t), α_t and α_s the revealed fractions before
 * and after the step (ReMDM's "cap" schedule), choosing the tokens the model was least sure of when it
 * drew them (ReMDM-conf). The base sampler reveals them again later, in the light of everything
 * revealed since, so early mistakes can be corrected.
 */
export function withRemasking(base: Sampler, name: SamplerName, eta = REMASK_CAP): Sampler {
  const confidence = new WeakMap<RowState, Float32Array>();
  return {
    name,
    query: (row, c) => base.query(row, c),
    reveal(row, query, logp, c) {
      const k = c.codebookSize;
      let scores = confidence.get(row);
      if (!scores) confidence.set(row, (scores = new Float32Array(row.tokens.length)));
      const earlier: number[] = [];
      row.tokens.forEach((v, i) => {
        if (v !== c.maskId && !row.given[i]) earlier.push(i);
      });
      base.reveal(row, query, logp, c);
      query.forEach((pos, j) => {
        if (row.tokens[pos] !== c.maskId) scores[pos] = logp[j * k + row.tokens[pos]];
      });
      if (c.step >= c.steps - 1 || earlier.length === 0) return;
      // (1 − α_s)/α_t with α as fractions of the unknown tokens: (masked after)/(revealed before)
      const sigma = Math.min(eta, maskedPositions(row, c.maskId).length / earlier.length);
      let r = 0;
      for (let i = 0; i < earlier.length; i++) if (c.rng.next() < sigma) r++;
      earlier.sort((a, b) => scores[a] - scores[b]);
      for (let i = 0; i < r; i++) row.tokens[earlier[i]] = c.maskId;
    },
  };
}

export const SAMPLERS: Record<SamplerName, Sampler> = {
  random: randomSampler,
  confidence: confidenceSampler,
  halton: haltonSampler,
  remask: withRemasking(haltonSampler, 'remask'),
};
