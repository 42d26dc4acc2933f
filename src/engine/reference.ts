// A plain-TypeScript float64 evaluator of graphs: the oracle for gradient checks, independent of ONNX Runtime.
import { type Graph, GraphError, type Tensor, fmtShape } from './graph.ts';
import type { NDArray } from './ndarray.ts';
import { liveTensors } from './onnx.ts';
import { TABLE } from './ops/table.ts';
import type { OpRule } from './ops/types.ts';

/** Values of `outputs` given values for every input and parameter (by name) they depend on. */
export function evaluate(graph: Graph, feeds: Record<string, NDArray>, outputs: Tensor[]): NDArray[] {
  const live = liveTensors(graph, outputs);
  const vals = new Map<number, NDArray>();
  const leaf = (name: string, t: Tensor) => {
    if (!live.has(t.id)) return;
    const v = feeds[name];
    if (!v) throw new GraphError(`evaluate: no value for '${name}'`);
    if (fmtShape(v.shape) !== fmtShape(t.shape)) throw new GraphError(`evaluate: '${name}' is ${fmtShape(v.shape)}, expected ${fmtShape(t.shape)}`);
    vals.set(t.id, v);
  };
  for (const [name, t] of graph.inputs) leaf(name, t);
  for (const [name, p] of graph.params) leaf(name, p.tensor);
  const valueOf = (t: Tensor): NDArray => {
    const v = vals.get(t.id) ?? (t.source.kind === 'const' ? t.source.value : undefined);
    if (!v) throw new GraphError(`evaluate: ${t} has no value`);
    return v;
  };
  for (const n of graph.nodes) {
    if (!live.has(n.output.id)) continue;
    const rule = TABLE[n.op] as OpRule<unknown>;
    vals.set(n.output.id, rule.eval(n.inputs.map(valueOf), n.attrs, n.output));
  }
  return outputs.map(valueOf);
}
