// The one sampling loop: a batch of token grids, some tokens given, the rest masked; a sampler decides
// what to predict and reveal at each step; a denoiser supplies log-probabilities for exactly those positions.
import { Rng } from '../engine/rng.ts';
import { CHOICE_TEMPERATURE, type RowState, SAMPLERS, type SamplerName, type StepContext } from './samplers.ts';
import { UnmaskError } from '../errors.ts';

export interface Denoiser {
  /** Token grid [h, w] the denoiser accepts. */
  readonly grid: readonly [number, number];
  /** K: codes are 0..K−1 and K is the mask token. */
  readonly codebookSize: number;
  /**
   * log p(x₀ at position | x_t) for `m` positions per row: `tokens` [batch, h·w], `positions`
   * [batch, m] → [batch, m, K]. Rows with fewer positions are padded by repeating one of theirs
   * (a masked one, where the row has any).
   */
  logProbs(tokens: Int32Array, batch: number, positions: Int32Array, m: number, condition?: Condition): Promise<Float32Array>;
}

/**
 * What a class-conditional denoiser is asked for: a label per row (C, the number of classes, is the
 * null label: unconditional) and the classifier-free guidance weight w, which combines the logits as
 * (1 + w)·conditional − w·unconditional (w = 0: the conditional model alone).
 */
export interface Condition {
  labels: Int32Array;
  guidance: number;
}

export interface SampleOptions {
  steps: number;
  temperature?: number;
  /** The confidence order's choice temperature (default 4.5, MaskGIT's). */
  choiceTemperature?: number;
  sampler?: SamplerName;
  seed?: number;
  /** Labels [batch] and guidance, passed to the denoiser at every step. */
  condition?: Condition;
  /**
   * Called after every step with the current grids (mask id where unknown). A returned promise is
   * awaited before the next step, so a caller can decode each step's grid as it happens.
   */
  onStep?: (info: { step: number; steps: number; tokens: Int32Array; revealed: number }) => void | Promise<void>;
}

export class SampleError extends UnmaskError {
  override name = 'SampleError';
}

/**
 * Fills the masked tokens of `tokens` ([batch, h·w], mask id K where unknown) and returns the result.
 * Given tokens are never changed.
 */
export async function sampleTokens(denoiser: Denoiser, tokens: Int32Array, batch: number, opts: SampleOptions): Promise<Int32Array> {
  const [h, w] = denoiser.grid;
  const n = h * w;
  const k = denoiser.codebookSize;
  const temperature = opts.temperature ?? 1;
  if (tokens.length !== batch * n) throw new SampleError(`token grids hold ${tokens.length} values, expected ${batch}×${n}`, `pass ${batch} grid(s) of ${n} tokens`);
  if (!Number.isInteger(opts.steps) || opts.steps < 1 || opts.steps > n) {
    throw new SampleError(`steps must be an integer from 1 to ${n} (the number of tokens), got ${opts.steps}`, `pass --steps between 1 and ${n}`);
  }
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new SampleError(`temperature must be > 0, got ${opts.temperature}`, 'pass a positive --temp');
  const choiceTemperature = opts.choiceTemperature ?? CHOICE_TEMPERATURE;
  if (!(choiceTemperature >= 0) || !Number.isFinite(choiceTemperature)) throw new SampleError(`choice temperature must be ≥ 0, got ${opts.choiceTemperature}`, 'pass --choice-temp ≥ 0');
  const sampler = SAMPLERS[opts.sampler ?? 'random'];
  if (!sampler) throw new SampleError(`unknown sampler '${opts.sampler}'`, `use ${Object.keys(SAMPLERS).join(', ')}`);
  const out = tokens.slice();
  for (const v of out) if (v < 0 || v > k) throw new SampleError(`token ${v} outside 0..${k}`, `give codebook indices below ${k}, or ${k} where a token is to be generated`);
  const rows: RowState[] = Array.from({ length: batch }, (_, b) => {
    const row = out.subarray(b * n, (b + 1) * n);
    return { tokens: row, unknownAtStart: row.filter((v) => v === k).length, given: Uint8Array.from(row, (v) => (v === k ? 0 : 1)) };
  });
  const rng = new Rng(opts.seed ?? 0);
  for (let step = 0; step < opts.steps; step++) {
    const c: StepContext = { step, steps: opts.steps, maskId: k, codebookSize: k, temperature, choiceTemperature, rng, grid: [h, w] };
    const queries = rows.map((r) => sampler.query(r, c));
    const m = Math.max(0, ...queries.map((q) => q.length));
    let revealed = 0;
    if (m > 0) {
      const positions = new Int32Array(batch * m);
      queries.forEach((q, b) => {
        // rows with nothing to predict this step still fill their slots (with any masked position)
        const fill = q.length ? q : [Math.max(0, rows[b].tokens.indexOf(k))];
        for (let j = 0; j < m; j++) positions[b * m + j] = fill[j % fill.length];
      });
      const logp = await denoiser.logProbs(out, batch, positions, m, opts.condition);
      rows.forEach((r, b) => {
        const q = queries[b];
        if (!q.length) return;
        const before = r.tokens.filter((v) => v === k).length;
        sampler.reveal(r, q, logp.subarray(b * m * k, (b * m + q.length) * k), c);
        revealed += before - r.tokens.filter((v) => v === k).length;
      });
    }
    await opts.onStep?.({ step: step + 1, steps: opts.steps, tokens: out, revealed });
  }
  return out;
}
