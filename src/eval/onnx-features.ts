// A user's own feature network as an ONNX file (e.g. an Inception they exported): one float input
// [B, C, H, W] taking images in [0, 1], and a first output [B, D]. The declared input shape is checked
// against the data before anything runs, and one probe batch checks the output's shape.
import onnxProto from 'onnx-proto';
import { readOnnxModel } from '../engine/onnx-import.ts';
import { type RuntimeSession, getRuntime } from '../engine/runtime.ts';
import { firstLine } from '../errors.ts';
import { EvalError, type FeatureExtractor, type Features } from './features.ts';

const { onnx } = onnxProto;

/** Images per run when the network's batch dimension is symbolic. */
const DEFAULT_BATCH = 64;

/** A declared dimension: its size, or null where it is symbolic (any size). */
type Dim = number | null;

function dims(v: onnxProto.onnx.IValueInfoProto): Dim[] | null {
  const shape = v.type?.tensorType?.shape;
  if (!shape) return null;
  return (shape.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : null));
}

const show = (shape: Dim[]) => `[${shape.map((d) => d ?? '?').join(', ')}]`;

export class OnnxFeatures implements FeatureExtractor {
  private constructor(
    readonly name: string,
    readonly dim: number,
    private session: RuntimeSession,
    private input: string,
    private output: string,
    private batch: number,
    private imageShape: [number, number, number],
  ) {}

  /** Opens `file` for images of `channels`×`size`×`size`; fails with one line if the network cannot take them. */
  static async open(file: string, channels: number, size: number): Promise<OnnxFeatures> {
    const { model, bytes } = readOnnxModel(file, (problem, fix, options) => new EvalError(problem, fix, options), 'the feature network', "pass a .onnx file or a run of 'unmask train features'");
    const graph = model.graph;
    const initializers = new Set((graph?.initializer ?? []).map((t) => t.name));
    const inputs = (graph?.input ?? []).filter((i) => !initializers.has(i.name));
    if (inputs.length !== 1) throw new EvalError(`${file}: the feature network must take one input (images [B, C, H, W]), it takes ${inputs.length}`, 'export it with the image batch as its only input');
    const shape = dims(inputs[0]);
    const want: Dim[] = [null, channels, size, size];
    if (inputs[0].type?.tensorType?.elemType !== onnx.TensorProto.DataType.FLOAT) {
      throw new EvalError(`${file}: the feature network's input '${inputs[0].name}' is not float32`, 'export it to take float32 images in [0, 1]');
    }
    if (shape && (shape.length !== 4 || shape.slice(1).some((d, i) => d !== null && d !== want[i + 1]))) {
      throw new EvalError(`${file}: the feature network takes ${show(shape)} but the images are [B, ${channels}, ${size}, ${size}]`, `export it for ${channels}×${size}×${size} inputs, or resize the data`);
    }
    const batch = shape?.[0] ?? DEFAULT_BATCH;
    const session = await getRuntime().createSession(bytes);
    const input = session.inputNames.find((n) => !initializers.has(n)) ?? session.inputNames[0];
    const output = session.outputNames[0];
    let probe: Record<string, { shape: readonly number[] }>;
    try {
      probe = await session.run({ [input]: { dtype: 'float32', shape: [batch, channels, size, size], data: new Float32Array(batch * channels * size * size) } }, [output]);
    } catch (e) {
      await session.release();
      throw new EvalError(`${file}: the feature network fails on [${batch}, ${channels}, ${size}, ${size}] images (${firstLine(e)})`, 'export it for these images, or pass another network', { cause: e });
    }
    const out = probe[output].shape;
    if (out.length !== 2 || out[0] !== batch) {
      await session.release();
      throw new EvalError(`${file}: the feature network's output '${output}' is [${out.join(', ')}] for a batch of ${batch}; it must be [B, D] features`, 'export the pooled layer');
    }
    return new OnnxFeatures(file, out[1], session, input, output, batch, [channels, size, size]);
  }

  async features(images: Float32Array, n: number): Promise<Features> {
    const [c, h, w] = this.imageShape;
    const per = c * h * w;
    if (images.length !== n * per) throw new EvalError(`${this.name} was opened for ${c}×${h}×${w} images; got ${images.length} values for ${n} image(s)`, `pass ${n} image(s) of ${c}×${h}×${w} values`);
    const out = new Float32Array(n * this.dim);
    const x = new Float32Array(this.batch * per);
    for (let i = 0; i < n; i += this.batch) {
      const m = Math.min(this.batch, n - i);
      x.fill(0).set(images.subarray(i * per, (i + m) * per));
      const r = await this.session.run({ [this.input]: { dtype: 'float32', shape: [this.batch, c, h, w], data: x } }, [this.output]);
      out.set(Float32Array.from(r[this.output].data as Float32Array).subarray(0, m * this.dim), i * this.dim);
    }
    return { n, d: this.dim, data: out };
  }

  /**
   * The network's class for each image, from its second output: class indices [B] (what a feature net
   * trained by unmask, models/features/*.onnx, returns beside its features) or logits [B, classes].
   */
  async classify(images: Float32Array, n: number): Promise<Int32Array> {
    const logits = this.session.outputNames[1];
    if (!logits) throw new EvalError(`${this.name} returns features only`, 'classify with a network that also returns classes (one made by unmask train features)');
    const [c, h, w] = this.imageShape;
    const per = c * h * w;
    const out = new Int32Array(n);
    const x = new Float32Array(this.batch * per);
    for (let i = 0; i < n; i += this.batch) {
      const m = Math.min(this.batch, n - i);
      x.fill(0).set(images.subarray(i * per, (i + m) * per));
      const r = (await this.session.run({ [this.input]: { dtype: 'float32', shape: [this.batch, c, h, w], data: x } }, [logits]))[logits];
      if (r.shape.length === 1) {
        for (let j = 0; j < m; j++) out[i + j] = Number(r.data[j]);
        continue;
      }
      const k = r.shape[1];
      const v = r.data as Float32Array;
      for (let j = 0; j < m; j++) {
        let best = 0;
        for (let q = 1; q < k; q++) if (v[j * k + q] > v[j * k + best]) best = q;
        out[i + j] = best;
      }
    }
    return out;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
