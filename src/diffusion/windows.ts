// Grids larger than the model's training grid (docs/method.md §2, "Larger images"): the model sees every
// training-size window (at a stride), each position's probabilities are averaged over the windows that
// contain it, and the sampler tempers those averages as usual. Any sampler and order works on top.
import type { Condition, Denoiser } from './sample.ts';
import { UnmaskError } from '../errors.ts';

/** Window origins along one axis: 0, stride, 2·stride, … and always the last one (size − window). */
export function windowStarts(size: number, window: number, stride: number): number[] {
  if (size < window) throw new UnmaskError(`grid size ${size} is smaller than the model's ${window}`, `make the canvas at least ${window} tokens a side`);
  const starts: number[] = [];
  for (let s = 0; s + window <= size; s += stride) starts.push(s);
  if (starts[starts.length - 1] !== size - window) starts.push(size - window);
  return starts;
}

export class WindowDenoiser implements Denoiser {
  readonly codebookSize: number;
  private origins: [number, number][];

  constructor(
    private base: Denoiser,
    readonly grid: readonly [number, number],
    stride: number,
  ) {
    this.codebookSize = base.codebookSize;
    const [h, w] = base.grid;
    if (!Number.isInteger(stride) || stride < 1) throw new UnmaskError(`window stride must be a positive integer, got ${stride}`, 'pass a whole --stride of 1 or more');
    this.origins = windowStarts(grid[0], h, stride).flatMap((top) => windowStarts(grid[1], w, stride).map((left): [number, number] => [top, left]));
  }

  async logProbs(tokens: Int32Array, batch: number, positions: Int32Array, m: number, condition?: Condition): Promise<Float32Array> {
    const [H, W] = this.grid;
    const [h, w] = this.base.grid;
    const k = this.codebookSize;
    // One base row per (batch row, window) that contains at least one queried position.
    const rows: { b: number; top: number; left: number; slots: number[] }[] = [];
    for (let b = 0; b < batch; b++) {
      for (const [top, left] of this.origins) {
        const slots: number[] = [];
        for (let j = 0; j < m; j++) {
          const p = positions[b * m + j];
          const y = Math.floor(p / W), x = p % W;
          if (y >= top && y < top + h && x >= left && x < left + w) slots.push(j);
        }
        if (slots.length) rows.push({ b, top, left, slots });
      }
    }
    const mm = Math.max(...rows.map((r) => r.slots.length));
    const winTokens = new Int32Array(rows.length * h * w);
    const winPos = new Int32Array(rows.length * mm);
    rows.forEach((r, i) => {
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) winTokens[i * h * w + y * w + x] = tokens[r.b * H * W + (r.top + y) * W + r.left + x];
      for (let j = 0; j < mm; j++) {
        const p = positions[r.b * m + r.slots[j % r.slots.length]];
        winPos[i * mm + j] = (Math.floor(p / W) - r.top) * w + ((p % W) - r.left);
      }
    });
    // Every window of a row keeps the row's label.
    const windowCondition = condition && { ...condition, labels: Int32Array.from(rows, (r) => condition.labels[r.b]) };
    const lp = await this.base.logProbs(winTokens, rows.length, winPos, mm, windowCondition);
    const sum = new Float64Array(batch * m * k);
    const count = new Int32Array(batch * m);
    rows.forEach((r, i) => {
      r.slots.forEach((slot, j) => {
        const dst = (r.b * m + slot) * k;
        const src = (i * mm + j) * k;
        for (let v = 0; v < k; v++) sum[dst + v] += Math.exp(lp[src + v]);
        count[r.b * m + slot]++;
      });
    });
    const out = new Float32Array(batch * m * k);
    for (let q = 0; q < batch * m; q++) for (let v = 0; v < k; v++) out[q * k + v] = Math.log(sum[q * k + v] / count[q]);
    return out;
  }
}
