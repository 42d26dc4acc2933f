// Reverse-mode autodiff: appends the backward pass to the same graph, so one session run returns the
// loss and its gradients. Gradients of several losses can be taken in one graph (call grad per loss).
import * as F from './api.ts';
import { GraphError, type Tensor } from './graph.ts';
import { liveTensors } from './onnx.ts';
import { TABLE } from './ops/table.ts';
import type { GradContext, OpName, OpRule } from './ops/types.ts';

const isFloat = (t: Tensor) => t.dtype === 'float32' || t.dtype === 'float64';

/**
 * Gradients of `loss` with respect to each tensor in `wrt` (parameters, inputs or intermediates).
 * `loss` must be a scalar unless `seed` (the gradient of the output) is given.
 */
export function grad(loss: Tensor, wrt: Tensor[], seed?: Tensor): Tensor[] {
  const graph = loss.graph;
  if (!seed && loss.size !== 1) throw new GraphError(`grad: loss must be a scalar, got ${loss}; pass a seed gradient otherwise`);
  if (!isFloat(loss)) throw new GraphError(`grad: loss must be floating point, got ${loss}`);
  const targets = new Set(wrt.map((t) => t.id));

  // Forward sweep: which tensors depend (differentiably) on a target.
  const dependent = new Set<number>(targets);
  const nodes = graph.nodes.slice(); // the backward nodes appended below are not revisited
  for (const n of nodes) {
    if (n.op === 'stopGradient' || !isFloat(n.output)) continue;
    if (n.inputs.some((t) => dependent.has(t.id))) dependent.add(n.output.id);
  }
  const live = liveTensors(graph, [loss]);

  const grads = new Map<number, Tensor>();
  grads.set(loss.id, seed ?? F.expand(graph.scalar(1, loss.dtype), loss.shape));
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    const g = grads.get(n.output.id);
    if (!g || !dependent.has(n.output.id) || !live.has(n.output.id)) continue;
    const needs = n.inputs.map((t) => dependent.has(t.id) && isFloat(t));
    if (!needs.some(Boolean)) continue;
    const rule = TABLE[n.op] as OpRule<unknown>;
    if (!rule.grad) throw new GraphError(`grad: op '${n.op}' is not differentiable but lies between the loss and a differentiated tensor`);
    const ctx: GradContext<unknown> = { inputs: n.inputs, output: n.output, attrs: n.attrs, needs, F };
    const gins = rule.grad(g, ctx);
    n.inputs.forEach((t, k) => {
      const gi = gins[k];
      if (!needs[k] || !gi) return;
      if (gi.shape.join() !== t.shape.join()) {
        throw new GraphError(`grad: rule for '${n.op satisfies OpName}' gave ${gi} for input ${k} of shape ${t}`);
      }
      const prev = grads.get(t.id);
      grads.set(t.id, prev ? F.add(prev, gi) : gi);
    });
  }
  return wrt.map((t) => grads.get(t.id) ?? F.zeros(t, t.shape));
}
