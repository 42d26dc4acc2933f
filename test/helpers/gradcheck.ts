// Gradient check (tinygrad's device-free test): autodiff of loss = Σ output·R, R fixed random weights,
// against float64 central finite differences of the same loss, both through the reference evaluator.
import * as F from '../../src/engine/api.ts';
import { grad } from '../../src/engine/autodiff.ts';
import { Graph, GraphError } from '../../src/engine/graph.ts';
import type { NDArray } from '../../src/engine/ndarray.ts';
import { evaluate } from '../../src/engine/reference.ts';
import { Rng } from '../../src/engine/rng.ts';
import { type OpCase, declareInputs, isFloat, randn } from './opcase.ts';
import { FD_EPS, GRAD_ATOL, GRAD_RTOL } from './tolerances.ts';

export interface GradCheckResult {
  /** Largest |autodiff − fd| over every element of every float input. */
  maxAbs: number;
  /** Largest |autodiff − fd| / |fd| (elements with |fd| < 1e-3 excluded: there only maxAbs means anything). */
  maxRel: number;
  /** Largest fraction of the allowed GRAD_ATOL + GRAD_RTOL·|fd| that an element uses (≤ 1 passes). */
  used: number;
  /** The element that used the most, for the failure message. */
  worst: string;
  /** Number of derivatives compared. */
  count: number;
}

export function gradCheck(c: OpCase, seed = 7): GradCheckResult {
  const g = new Graph();
  const xs = declareInputs(g, c, 'float64');
  const y = c.build(xs);
  if (y.dtype !== 'float64') throw new GraphError(`gradCheck '${c.name}': output is ${y}, expected float64`);
  const loss = F.reduceSum(F.mul(y, g.constant(randn(new Rng(seed), y.shape))));
  const names = Object.keys(c.inputs).filter((k) => isFloat(c.inputs[k].dtype));
  const auto = evaluate(g, { ...c.inputs }, grad(loss, names.map((k) => xs[k])));

  const eps = c.eps ?? FD_EPS;
  const lossAt = (feeds: Record<string, NDArray>) => evaluate(g, feeds, [loss])[0].data[0];
  const r: GradCheckResult = { maxAbs: 0, maxRel: 0, used: 0, worst: '', count: 0 };
  names.forEach((name, k) => {
    const base = c.inputs[name];
    for (let i = 0; i < base.data.length; i++) {
      const at = (v: number) => {
        const data = base.data.slice();
        data[i] = v;
        return lossAt({ ...c.inputs, [name]: { ...base, data } });
      };
      const fd = (at(base.data[i] + eps) - at(base.data[i] - eps)) / (2 * eps);
      const ad = auto[k].data[i];
      const d = Math.abs(ad - fd);
      const used = Number.isNaN(d) ? Infinity : d / (GRAD_ATOL + GRAD_RTOL * Math.abs(fd));
      r.maxAbs = Math.max(r.maxAbs, d);
      if (Math.abs(fd) >= 1e-3) r.maxRel = Math.max(r.maxRel, d / Math.abs(fd));
      if (used > r.used) [r.used, r.worst] = [used, `d${name}[${i}]: autodiff ${ad}, finite difference ${fd}`];
      r.count++;
    }
  });
  return r;
}
