// Perceptual distance through a user's ONNX feature network (an exported LPIPS-VGG trunk, or any conv
// net), LPIPS-style without LPIPS's learned channel weights: for each of the network's outputs, unit-
// normalise the feature vector at every position across channels, take the squared difference, and
// average over channels, positions and images; then average over outputs.
//
// The network receives images as the data holds them, in [0, 1]; a network trained on other scaling
// (e.g. ImageNet mean/std) should have that normalisation exported inside it. 1-channel images are
// repeated to a 3-channel network's input; when the network declares a fixed height and width, images
// are resized to it bilinearly (half-pixel centres, as F.interpolate(align_corners=False)). A fixed
// batch size is served in chunks of that size.
import { statSync } from 'node:fs';
import * as F from '../engine/api.ts';
import { Graph, GraphError, type Tensor } from '../engine/graph.ts';
import { type OnnxNet, OnnxImportError, loadOnnxNet } from '../engine/onnx-import.ts';

/** Added under the square root of LPIPS's channel norm, so all-zero feature vectors (common after ReLU) have a finite gradient. */
export const NORM_EPS = 1e-10;

const cache = new Map<string, OnnxNet>();

/** The network in `file`, read once per process (again if the file changes). */
export function perceptualNet(file: string): OnnxNet {
  let key = file;
  try {
    const st = statSync(file);
    key = `${file}|${st.mtimeMs}|${st.size}`;
  } catch {
    // loadOnnxNet reports the missing file
  }
  let net = cache.get(key);
  if (!net) cache.set(key, (net = loadOnnxNet(file)));
  return net;
}

/**
 * Reads `file` and applies it once to a batch of `channels`×`size`×`size` images, so that a network the
 * loss cannot use fails here with one line, before training starts.
 */
export function checkPerceptualNet(file: string, channels: number, size: number): OnnxNet {
  const net = perceptualNet(file);
  const g = new Graph();
  const x = g.input('x', [net.input.shape[0] ?? 1, channels, size, size]);
  try {
    featuresOf(net, x);
  } catch (e) {
    if (e instanceof GraphError) throw new OnnxImportError(`${file}: ${e.message}`, 'export the network for these images, or choose another', { cause: e });
    throw e;
  }
  return net;
}

/** How `channels`×`size`×`size` images are fitted to the network's input, for model cards. */
export function describeFit(net: OnnxNet, channels: number, size: number): string {
  const [, c, h, w] = net.input.shape;
  const steps = [];
  if (c !== null && c !== channels) steps.push(`${channels}-channel images repeated to ${c} channels`);
  if ((h !== null && h !== size) || (w !== null && w !== size)) steps.push(`resized bilinearly from ${size}×${size} to ${h ?? size}×${w ?? size}`);
  return steps.length ? steps.join(', ') : 'images fed as they are';
}

/** The distance between images x and y [B, C, H, W] in [0, 1]; differentiable in both. */
export function perceptualDistance(net: OnnxNet, x: Tensor, y: Tensor): Tensor {
  const fx = featuresOf(net, x);
  const fy = featuresOf(net, y);
  const layers = fx.map((a, i) => F.reduceMean(F.square(F.sub(unitChannels(a), unitChannels(fy[i])))));
  return F.div(layers.reduce((a, b) => F.add(a, b)), layers.length);
}

/** f / √(Σ_c f² + ε) along axis 1, the channel axis of [B, C, ...] features. */
function unitChannels(f: Tensor): Tensor {
  if (f.rank < 2) throw new GraphError(`its output ${f} has no channel axis; outputs must be [B, C, ...] features`);
  return F.div(f, F.sqrt(F.add(F.reduceSum(F.square(f), [1], true), NORM_EPS)));
}

/** The network's outputs for images x, after fitting channels and size to its declared input. */
function featuresOf(net: OnnxNet, x: Tensor): Tensor[] {
  const want = net.input.shape;
  if (want.length !== 4) {
    throw new GraphError(`the network takes rank-${want.length} input [${want.map((d) => d ?? '?').join(', ')}]; a perceptual network must take images [B, C, H, W]`);
  }
  const [b, c, h, w] = x.shape;
  let img = x;
  if (want[1] !== null && want[1] !== c) {
    if (c !== 1) throw new GraphError(`the network takes ${want[1]}-channel images, these have ${c}; only 1-channel images are repeated to fit`);
    img = F.expand(img, [b, want[1], h, w]);
  }
  if ((want[2] !== null && want[2] !== h) || (want[3] !== null && want[3] !== w)) img = resizeBilinear(img, want[2] ?? h, want[3] ?? w);
  const chunk = want[0] ?? b;
  if (b % chunk !== 0) throw new GraphError(`the network takes batches of ${chunk}, which does not divide the batch of ${b}`);
  const parts: Tensor[][] = [];
  for (let i = 0; i < b; i += chunk) parts.push(net.apply(chunk === b ? img : F.slice(img, [0], [i], [i + chunk])));
  return parts[0].map((_, k) => F.concat(parts.map((p) => p[k]), 0));
}

/** Bilinear resize as two matrix products, R_h · x · R_wᵀ (no antialiasing when shrinking). */
function resizeBilinear(x: Tensor, h: number, w: number): Tensor {
  const ry = F.constant(x, [h, x.shape[2]], interpolationMatrix(x.shape[2], h), x.dtype);
  const rx = F.constant(x, [x.shape[3], w], transpose(interpolationMatrix(x.shape[3], w), w, x.shape[3]), x.dtype);
  return F.matmul(F.matmul(ry, x), rx);
}

/** [out, in] weights of PyTorch's bilinear source positions: s = (o + ½)·in/out − ½, clamped at 0. */
function interpolationMatrix(size: number, out: number): Float64Array {
  const m = new Float64Array(out * size);
  for (let o = 0; o < out; o++) {
    const s = Math.max(0, ((o + 0.5) * size) / out - 0.5);
    const i0 = Math.floor(s);
    const i1 = Math.min(i0 + 1, size - 1);
    const t = s - i0;
    m[o * size + i0] += 1 - t;
    m[o * size + i1] += t;
  }
  return m;
}

function transpose(m: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
  return t;
}
