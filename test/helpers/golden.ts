// Golden-state comparisons (llm.c's habit): named tensors of ours against a PyTorch fixture, each within
// |ours − ref| ≤ atol + rtol·|ref|; the test prints what it compared, the largest difference and the
// share of the tolerance used, and fails on any element over it.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

export interface FixtureTensor {
  shape: number[];
  dtype: 'float32' | 'int64' | 'bool';
  data: number[];
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

export function readFixture<T>(path: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8')) as T;
}

export const int64 = (t: FixtureTensor | number[]): BigInt64Array => BigInt64Array.from(Array.isArray(t) ? t : t.data, (v) => BigInt(v));

interface Row {
  name: string;
  count: number;
  maxAbs: number;
  /** The largest fraction of the allowance any element uses (≤ 1 passes). */
  used: number;
  tol: Tolerance;
  /** The allowance's relative part is rtol·scale instead of rtol·|torch|. */
  scale?: number;
}

export class Golden {
  private rows: Row[] = [];

  constructor(
    readonly label: string,
    readonly tol: Tolerance,
    /** What the reference values come from. */
    readonly against = 'PyTorch',
  ) {}

  /**
   * Compares element by element. With `scale`, the allowance is atol + rtol·scale for every element (for a
   * statistic such as a sum, whose rounding error follows the size of its terms rather than its own value).
   */
  add(name: string, ours: ArrayLike<number | bigint>, ref: ArrayLike<number>, tol: Tolerance = this.tol, scale?: number): this {
    expect(ours.length, `${this.label}: ${name} has ${ours.length} values, the fixture ${ref.length}`).toBe(ref.length);
    let maxAbs = 0;
    let used = 0;
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(Number(ours[i]) - ref[i]);
      maxAbs = Math.max(maxAbs, d);
      used = Math.max(used, Number.isNaN(d) ? Infinity : d / (tol.atol + tol.rtol * (scale ?? Math.abs(ref[i]))));
    }
    this.rows.push({ name, count: ref.length, maxAbs, used, tol, scale });
    return this;
  }

  /** Prints one line per compared quantity (per group for names `group:tensor`) and fails on any over its tolerance. */
  check(): void {
    const fmt = (r: Row) => `${r.name} max|Δ| ${r.maxAbs.toExponential(2)} (${(100 * r.used).toFixed(1)}% of ${Number(r.tol.atol.toPrecision(3))} + ${Number(r.tol.rtol.toPrecision(3))}·${r.scale === undefined ? '|ref|' : r.scale.toPrecision(3)})`;
    const groups = new Map<string, Row[]>();
    const lines: string[] = [];
    for (const r of this.rows) {
      const colon = r.name.indexOf(':');
      if (colon < 0) lines.push(fmt(r));
      else groups.set(r.name.slice(0, colon), [...(groups.get(r.name.slice(0, colon)) ?? []), r]);
    }
    for (const [group, rows] of groups) {
      const worst = rows.reduce((a, b) => (b.used > a.used ? b : a));
      const values = rows.reduce((n, r) => n + r.count, 0);
      // a tensor compared through several statistics has rows 'tensor norm', 'tensor sum', …
      const tensors = new Set(rows.map((r) => r.name.slice(group.length + 1).split(' ')[0])).size;
      lines.push(`${tensors} ${group} tensors (${values} values compared) max|Δ| ${Math.max(...rows.map((r) => r.maxAbs)).toExponential(2)}, worst ${fmt(worst)}`);
    }
    console.log(`${this.label} vs ${this.against}:\n  ${lines.join('\n  ')}`);
    for (const r of this.rows) expect(r.used, `${this.label}: ${fmt(r)}`).toBeLessThanOrEqual(1);
  }
}
