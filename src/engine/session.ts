// A Program is a graph lowered to ONNX and loaded into one runtime session, built once and re-run.
import { type DType, type Graph, GraphError, type Shape, type Tensor, fmtShape, sizeOf } from './graph.ts';
import { lowerToOnnx, serializeModel } from './onnx.ts';
import type { ParamStore } from './params.ts';
import { type HostData, type HostTensor, type RuntimeSession, getRuntime } from './runtime.ts';

export interface CompileOptions {
  /** Named outputs; defaults to the graph's outputs. */
  outputs?: Record<string, Tensor>;
  /** Bake these parameter values into the model as initializers (inference); otherwise they are fed per run. */
  bake?: ParamStore;
  threads?: number;
  /** See SessionOptions.spin (default false). */
  spin?: boolean;
}

interface Feed {
  name: string;
  shape: Shape;
  dtype: DType;
}

export class Program {
  private constructor(
    private session: RuntimeSession,
    /** The serialized model, e.g. for export as a standalone .onnx file. */
    readonly model: Uint8Array,
    readonly inputs: Feed[],
    readonly params: Feed[],
    readonly outputNames: string[],
  ) {}

  static async compile(graph: Graph, opts: CompileOptions = {}): Promise<Program> {
    const outputs = new Map(Object.entries(opts.outputs ?? Object.fromEntries(graph.outputs)));
    const paramValues = opts.bake ? new Map([...opts.bake.map].map(([k, v]) => [k, v.data])) : undefined;
    if (opts.bake) opts.bake.assertCovers(graph);
    const proto = lowerToOnnx(graph, { outputs, paramValues });
    const model = serializeModel(proto);
    const fed = new Set(proto.graph!.input!.map((i) => i.name!));
    const inputs = [...graph.inputs.values()]
      .filter((t) => fed.has((t.source as { name: string }).name))
      .map((t) => ({ name: (t.source as { name: string }).name, shape: t.shape, dtype: t.dtype }));
    const params = [...graph.params.values()].filter((p) => fed.has(p.name)).map((p) => ({ name: p.name, shape: p.shape, dtype: 'float32' as DType }));
    const rt = getRuntime();
    const session = await rt.createSession(model, { threads: opts.threads, spin: opts.spin });
    return new Program(session, model, inputs, params, [...outputs.keys()]);
  }

  /** Runs with the given inputs (typed arrays of the declared shapes) and, for training graphs, parameters. */
  async run(inputs: Record<string, HostData | HostTensor>, params?: ParamStore, outputs?: string[]): Promise<Record<string, HostTensor>> {
    const feeds: Record<string, HostTensor> = {};
    for (const f of this.inputs) {
      const v = inputs[f.name];
      if (v === undefined) throw new GraphError(`missing input '${f.name}' ${f.dtype}${fmtShape(f.shape)}`);
      feeds[f.name] = asHost(f, v);
    }
    for (const f of this.params) {
      if (!params) throw new GraphError(`this program needs parameter values (first: '${f.name}')`);
      feeds[f.name] = { dtype: 'float32', shape: f.shape, data: params.get(f.name).data };
    }
    return this.session.run(feeds, outputs);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

const ARRAY_DTYPE: [new (n: number) => HostData, DType][] = [
  [Float32Array, 'float32'],
  [Float64Array, 'float64'],
  [BigInt64Array, 'int64'],
  [Uint8Array, 'bool'],
  [Int8Array, 'int8'],
];

function asHost(f: Feed, v: HostData | HostTensor): HostTensor {
  const t: HostTensor = 'data' in v && !ArrayBuffer.isView(v) ? v : { dtype: f.dtype, shape: f.shape, data: v as HostData };
  const kind = ARRAY_DTYPE.find(([C]) => t.data instanceof C)?.[1];
  if (kind !== f.dtype) throw new GraphError(`input '${f.name}' must be ${f.dtype}, got ${kind ?? 'an unknown array'}`);
  if (t.data.length !== sizeOf(f.shape) || (t.shape.length && fmtShape(t.shape) !== fmtShape(f.shape))) {
    throw new GraphError(`input '${f.name}' must have shape ${fmtShape(f.shape)} (${sizeOf(f.shape)} values), got ${fmtShape(t.shape)} (${t.data.length})`);
  }
  return { dtype: f.dtype, shape: f.shape, data: t.data };
}
