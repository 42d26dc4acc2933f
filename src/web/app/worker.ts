// The model worker: fetches a model's files from the server, builds it with UnmaskModel.fromFiles and
// runs the library's own tasks (inference/tasks.ts) on onnxruntime-web, off the page's thread. After every
// step it decodes the grids part-way, so the page shows the unmasking as it happens.
import { setRuntime } from '../../engine/runtime.ts';
import { webRuntime } from '../../engine/runtime-web.ts';
import type { Images } from '../../data/images.ts';
import { type TaskOptions, type TaskResult, complete, decodePartial, extend, generate, inpaint, stitch } from '../../inference/tasks.ts';
import type { ModelFiles } from '../../inference/model-format.ts';
import { UnmaskModel } from '../../inference/model.ts';
import type { Backend, ModelEntry, ModelInfo, Reply, Request, SampleSettings, Task } from './protocol.ts';

/** The worker's global scope, typed as far as we use it (the DOM lib types `self` as a window). */
const scope = self as unknown as {
  postMessage(message: Reply, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<Request>) => void) | null;
};

class Cancelled extends Error {}

let model: UnmaskModel | null = null;
const cancelled = new Set<number>();
/** Loads and runs one at a time, in the order they came. */
let queue: Promise<void> = Promise.resolve();

function post(reply: Reply): void {
  const images = 'images' in reply ? [reply.images.data.buffer as ArrayBuffer] : [];
  scope.postMessage(reply, images);
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: the server answered ${r.status} — is unmask serve still running?`);
  return new Uint8Array(await r.arrayBuffer());
}

async function fetchText(url: string): Promise<string> {
  return new TextDecoder().decode(await fetchBytes(url));
}

/** WebGPU when asked for, or for 'auto' when the browser offers an adapter; wasm otherwise. */
async function chooseProviders(backend: Backend): Promise<string[]> {
  if (backend === 'wasm') return ['wasm'];
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
  if (adapter) return ['webgpu', 'wasm'];
  if (backend === 'webgpu') throw new Error('this browser offers no WebGPU adapter — choose the wasm backend');
  return ['wasm'];
}

/** The model on `providers`, with its decoder built (which also shows whether the backend runs our graphs). */
async function build(name: string, files: ModelFiles, providers: string[]): Promise<UnmaskModel> {
  setRuntime(webRuntime(providers));
  const m = UnmaskModel.fromFiles(name, files);
  const t = m.tokenizer;
  try {
    await t.decode(new Int32Array(t.latent * t.latent), 1);
  } catch (e) {
    await m.release();
    throw e;
  }
  return m;
}

async function load(entry: ModelEntry, backend: Backend): Promise<ModelInfo> {
  const files = entry.files;
  if (!files) throw new Error(`${entry.name}: ${entry.problem}`);
  const [config, weights, tokenizer, card] = await Promise.all([
    fetchText(files.config.url),
    fetchBytes(files.weights.url),
    fetchBytes(files.tokenizer.url),
    files.card ? fetchText(files.card.url) : null,
  ]);
  await model?.release();
  model = null;
  let providers = await chooseProviders(backend);
  let m: UnmaskModel;
  try {
    m = await build(entry.name, { config, weights, tokenizer, card }, providers);
  } catch (e) {
    // WebGPU can be offered and still fail on our graphs (a driver, a missing kernel); 'auto' then falls back.
    if (backend !== 'auto' || providers[0] !== 'webgpu') throw e;
    providers = ['wasm'];
    m = await build(entry.name, { config, weights, tokenizer, card }, providers);
  }
  model = m;
  const t = m.tokenizer;
  return {
    name: entry.name,
    channels: t.config.channels,
    imageSize: t.config.imageSize,
    latent: t.latent,
    pixelsPerToken: t.pixelsPerToken,
    causal: m.prior.causal,
    backend: providers[0],
  };
}

function runTask(m: UnmaskModel, task: Task, o: TaskOptions): Promise<TaskResult> {
  switch (task.kind) {
    case 'generate':
      return generate(m, o);
    case 'inpaint':
      return inpaint(m, task.image, task.mask, o);
    case 'complete':
      return complete(m, task.image, task.keep, o);
    case 'stitch':
      return stitch(m, task.left, task.right, task.seam, o);
    case 'extend': {
      const s = m.tokenizer.config.imageSize;
      const f = m.tokenizer.pixelsPerToken;
      // The given image sits in the middle of the canvas, on the token grid.
      const at = { x: Math.floor((task.width - s) / 2 / f) * f, y: Math.floor((task.height - s) / 2 / f) * f };
      return extend(m, { ...o, width: task.width, height: task.height, image: task.image, at });
    }
  }
}

/** The token grid the task samples: the model's, or extend's canvas. */
function gridOf(m: UnmaskModel, task: Task): [number, number] {
  const f = m.tokenizer.pixelsPerToken;
  return task.kind === 'extend' ? [task.height / f, task.width / f] : [m.tokenizer.latent, m.tokenizer.latent];
}

async function run(id: number, task: Task, s: SampleSettings): Promise<void> {
  const m = model;
  if (!m) throw new Error('no model is loaded yet — pick a model first');
  const [h, w] = gridOf(m, task);
  const t0 = performance.now();
  const result = await runTask(m, task, {
    ...s,
    onStep: async ({ step, steps, tokens }) => {
      // Session runs on wasm resolve without returning to the event loop; yield to it so that a cancel
      // message posted meanwhile is delivered.
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (cancelled.has(id)) throw new Cancelled();
      const images: Images = await decodePartial(m, tokens, s.n, h, w);
      post({ type: 'step', id, step, steps, images });
    },
  });
  post({ type: 'done', id, images: result.images, seconds: (performance.now() - t0) / 1000 });
}

async function handle(req: Request): Promise<void> {
  try {
    if (req.type === 'load') post({ type: 'loaded', id: req.id, info: await load(req.model, req.backend) });
    else if (req.type === 'run') await run(req.id, req.task, req.settings);
  } catch (e) {
    if (e instanceof Cancelled) post({ type: 'cancelled', id: req.id });
    else post({ type: 'error', id: req.id, message: e instanceof Error ? e.message : String(e) });
  } finally {
    cancelled.delete(req.id);
  }
}

scope.onmessage = (e) => {
  const req = e.data;
  if (req.type === 'cancel') cancelled.add(req.id);
  else queue = queue.then(() => handle(req));
};
