// onnxruntime-node behind the Runtime interface. ONNX Runtime's own log lines (coloured "[E:onnxruntime:…]"
// on stderr, beside the error it also throws) are switched off: what it has to say reaches the user
// once, as our error. UNMASK_ORT_LOG=verbose|info|warning|error turns them back on for debugging.
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { UnmaskError, firstLine } from '../errors.ts';
import type { DType } from './graph.ts';
import type { HostTensor, Runtime, RuntimeSession, SessionOptions } from './runtime.ts';

const ORT_TYPE: Record<DType, 'float32' | 'float64' | 'int64' | 'bool' | 'int8'> = {
  float32: 'float32',
  int8: 'int8',
  float64: 'float64',
  int64: 'int64',
  bool: 'bool',
};

export function toOrt(t: HostTensor): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[t.dtype], t.data as never, t.shape as number[]);
}

export function fromOrt(t: ort.Tensor): HostTensor {
  return { dtype: t.type as DType, shape: [...t.dims], data: t.data as HostTensor['data'] };
}

class NodeSession implements RuntimeSession {
  constructor(private session: ort.InferenceSession) {}

  get inputNames() {
    return this.session.inputNames;
  }

  get outputNames() {
    return this.session.outputNames;
  }

  async run(feeds: Record<string, HostTensor>, outputs?: readonly string[]): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
    let res: ort.InferenceSession.ReturnType;
    try {
      res = outputs ? await this.session.run(ortFeeds, outputs as string[]) : await this.session.run(ortFeeds);
    } catch (e) {
      throw ortError(e);
    }
    const out: Record<string, HostTensor> = {};
    for (const [k, v] of Object.entries(res)) out[k] = fromOrt(v);
    return out;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

const LEVELS = ['verbose', 'info', 'warning', 'error', 'fatal'] as const;

/** ORT's log level: fatal only (nothing is printed for errors it also throws), unless UNMASK_ORT_LOG asks for more. */
function logLevel(): (typeof LEVELS)[number] {
  const asked = process.env.UNMASK_ORT_LOG as (typeof LEVELS)[number] | undefined;
  return asked && LEVELS.includes(asked) ? asked : 'fatal';
}

/** An ORT failure: running out of memory is the user's to fix (a smaller job); anything else is a bug, named as ORT's. */
function ortError(e: unknown): Error {
  const message = firstLine(e);
  if (/failed to allocate|bad_alloc|out of memory/i.test(message)) {
    return new UnmaskError(`ONNX Runtime ran out of memory (${message})`, 'ask for less at once: fewer images (--n, --batch) or a smaller --size', { cause: e });
  }
  return new Error(`ONNX Runtime: ${message}`, { cause: e });
}

export const nodeRuntime: Runtime = {
  name: 'onnxruntime-node',
  async createSession(model: Uint8Array, opts: SessionOptions = {}) {
    const level = logLevel();
    ort.env.logLevel = level;
    try {
      const session = await ort.InferenceSession.create(model, {
        intraOpNumThreads: opts.threads ?? availableParallelism(),
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        logSeverityLevel: LEVELS.indexOf(level) as 0 | 1 | 2 | 3 | 4,
        ...(opts.spin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
      });
      return new NodeSession(session);
    } catch (e) {
      throw ortError(e);
    }
  },
};
