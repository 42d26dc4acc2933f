// The model worker: loads onnxruntime-web (the wasm-only build, or the WebGPU one where the browser has
// an adapter) and a model's files through the browser's cache, builds the model with
// UnmaskModel.fromFiles and runs the library's own tasks (inference/tasks.ts) off the page's thread.
// While sampling it decodes the grid part-way for the page at a cadence that costs little: a preview
// is decoded only while previews have taken under a fifth of the run so far (or at every step, or never,
// as the page asks). The page starts one worker per backend choice.
import type * as Ort from 'onnxruntime-web';
import type { Images } from '../../data/images.ts';
import { SAMPLERS, type SamplerName } from '../../diffusion/samplers.ts';
import { setRuntime } from '../../engine/runtime.ts';
import { webRuntimeOn } from '../../engine/runtime-web-core.ts';
import type { ModelFiles } from '../../inference/model-format.ts';
import { UnmaskModel } from '../../inference/model.ts';
import { type TaskOptions, type TaskResult, complete, decodePartial, extend, generate, inpaint, stitch } from '../../inference/tasks.ts';
import { FileCache } from './file-cache.ts';
import type { Precision } from '../../engine/quantize.ts';
import type { Backend, FileRef, ModelEntry, ModelInfo, OrtBuild, Reply, Request, RunTimes, RuntimeManifest, SampleSettings, Task } from './protocol.ts';

/** The worker's global scope, typed as far as we use it (the DOM lib types `self` as a window). */
const scope = self as unknown as {
  postMessage(message: Reply, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<Request>) => void) | null;
};

/** Largest share of a run's time that part-way previews may take in 'budget' mode. */
const PREVIEW_SHARE = 0.1;
/**
 * Prior weights (as float32 bytes) above which only one prior session is kept at a time: each session
 * (one per power-of-two batch) bakes its own copy of the weights, and wasm has 4 GB in all.
 */
const ONE_PRIOR_SESSION_BYTES = 64e6;

/** At most this many wasm threads: each is a worker with its own stack, and our graphs split no further. */
const MAX_THREADS = 16;

class Cancelled extends Error {}

interface Loaded {
  ort: typeof Ort;
  providers: string[];
  adapter: string | null;
  /** Why 'auto' runs on wasm although the browser offered WebGPU. */
  fallback: string | null;
}

let runtime: Loaded | null = null;
let model: UnmaskModel | null = null;
/** The batch the prior's sessions were last built for. */
let priorChunk = '';
/** How long the last decode of one image took, to budget previews before the first one is measured. */
let decodeMsPerImage = 0;
let cache: Promise<FileCache> | null = null;
const cancelled = new Set<number>();
/** Loads and runs one at a time, in the order they came. */
let queue: Promise<void> = Promise.resolve();

function post(reply: Reply): void {
  const images = 'images' in reply && reply.images ? [reply.images.data.buffer as ArrayBuffer] : [];
  scope.postMessage(reply, images);
}

/** Counts bytes for one load and reports them to the page at most every 100 ms. */
function progress(id: number, what: string, total: number) {
  let loaded = 0, cached = 0, last = 0;
  const report = (force = false) => {
    const now = performance.now();
    if (!force && now - last < 100) return;
    last = now;
    post({ type: 'progress', id, what, loaded, total, cached });
  };
  return {
    count(bytes: number, fromCache: boolean) {
      loaded += bytes;
      if (fromCache) cached += bytes;
      report();
    },
    report,
    get loaded() {
      return loaded;
    },
    get cached() {
      return cached;
    },
  };
}

async function webgpuAdapter(): Promise<string | null> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string; description?: string } } | null> } }).gpu;
  const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
  if (!adapter) return null;
  const i = adapter.info ?? {};
  return [i.vendor, i.architecture, i.description].filter(Boolean).join(' ') || 'WebGPU';
}

/** The build and providers for `backend`: WebGPU first where there is an adapter (or where asked for), wasm otherwise. */
async function chooseBuild(backend: Backend, manifest: RuntimeManifest): Promise<{ build: OrtBuild; providers: string[]; adapter: string | null }> {
  if (backend === 'wasm') return { build: manifest.wasm, providers: ['wasm'], adapter: null };
  const adapter = await webgpuAdapter();
  if (adapter) return { build: manifest.webgpu, providers: ['webgpu', 'wasm'], adapter };
  if (backend === 'webgpu') throw new Error('this browser offers no WebGPU adapter — choose the wasm backend (or auto)');
  return { build: manifest.wasm, providers: ['wasm'], adapter: null };
}

function threadCount(): { threads: number; note: string | null } {
  if (!crossOriginIsolated) return { threads: 1, note: 'one thread: the page is not cross-origin isolated' };
  return { threads: Math.max(1, Math.min(MAX_THREADS, navigator.hardwareConcurrency || 1)), note: null };
}

/** The model on the current runtime, with its decoder built and run once (which also shows that the backend runs our graphs). */
async function build(name: string, files: ModelFiles): Promise<UnmaskModel> {
  const m = UnmaskModel.fromFiles(name, files);
  const t = m.tokenizer;
  try {
    const t0 = performance.now();
    await t.decode(new Int32Array(t.latent * t.latent), 1);
    decodeMsPerImage = performance.now() - t0;
  } catch (e) {
    await m.release();
    throw e;
  }
  return m;
}

async function load(id: number, entry: ModelEntry, manifest: RuntimeManifest, backend: Backend): Promise<ModelInfo> {
  const t0 = performance.now();
  const files = entry.files;
  if (!files) throw new Error(`${entry.name} can't be loaded: ${entry.problem}`);
  cache ??= FileCache.open();
  const store = await cache;
  const choice = runtime ? null : await chooseBuild(backend, manifest);
  const refs: FileRef[] = [files.config, files.weights, files.tokenizer, ...(files.card ? [files.card] : [])];
  const total = refs.reduce((n, f) => n + f.bytes, 0) + (choice ? choice.build.module.bytes + choice.build.binary.bytes : 0);
  const bytes = progress(id, entry.name, total);
  bytes.report(true);
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const [config, weights, tokenizer, card, ort] = await Promise.all([
    store.get(files.config, bytes.count).then(text),
    store.get(files.weights, bytes.count),
    store.get(files.tokenizer, bytes.count),
    files.card ? store.get(files.card, bytes.count).then(text) : null,
    choice ? startRuntime(choice, store, bytes.count) : null,
  ]);
  bytes.report(true);
  if (ort) runtime = ort;
  const rt = runtime!;
  const modelFiles = { config, weights, tokenizer, card };
  let m: UnmaskModel;
  try {
    m = await build(entry.name, modelFiles);
    // onnxruntime-web drops a WebGPU backend that fails to start and runs on wasm without a word: ask it.
    if (rt.providers[0] === 'webgpu' && !rt.ort.env.webgpu?.device) {
      await m.release();
      throw new Error(`onnxruntime-web could not start WebGPU on ${rt.adapter}`);
    }
  } catch (e) {
    // WebGPU can be offered and still fail (a driver, a missing kernel for our graphs): 'auto' then runs on wasm.
    if (backend !== 'auto' || rt.providers[0] !== 'webgpu') throw e;
    rt.providers = ['wasm'];
    rt.adapter = null;
    rt.fallback = e instanceof Error ? e.message : String(e);
    setRuntime(webRuntimeOn(rt.ort, { providers: rt.providers }));
    m = await build(entry.name, modelFiles);
  }
  // Only now is the previous model let go: a model that fails to load leaves the working one in place.
  await model?.release();
  model = m;
  priorChunk = '';
  const t = m.tokenizer;
  const { threads, note } = threadCount();
  return {
    name: entry.name,
    channels: t.config.channels,
    imageSize: t.config.imageSize,
    input: t.config.input,
    latent: t.latent,
    pixelsPerToken: t.pixelsPerToken,
    causal: m.prior.causal,
    classes: m.classes,
    samplers: Object.keys(SAMPLERS),
    sampling: m.sampling,
    providers: rt.providers,
    adapter: rt.adapter,
    threads: rt.ort.env.wasm.numThreads ?? threads,
    threadsNote: note,
    fallback: rt.fallback,
    fetchedBytes: bytes.loaded - bytes.cached,
    cachedBytes: bytes.cached,
    cacheNote: store.note,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Imports onnxruntime-web's build and fetches its wasm (through the cache), then makes it the runtime. */
async function startRuntime(choice: Awaited<ReturnType<typeof chooseBuild>>, store: FileCache, count: (n: number, cached: boolean) => void): Promise<Loaded> {
  const [ort, wasm] = await Promise.all([
    import(/* @vite-ignore */ choice.build.module.url).then((m: typeof Ort) => {
      // The script comes through the HTTP cache (its URL is versioned and immutable); nothing crossed the network when nothing was transferred.
      const entry = performance.getEntriesByType('resource').find((e) => e.name.endsWith(choice.build.module.url)) as PerformanceResourceTiming | undefined;
      count(choice.build.module.bytes, entry?.transferSize === 0);
      return m;
    }),
    store.get(choice.build.binary, count),
  ]);
  const { threads } = threadCount();
  ort.env.logLevel = 'error';
  setRuntime(webRuntimeOn(ort, { providers: choice.providers, threads, wasmBinary: wasm.buffer as ArrayBuffer }));
  return { ort, providers: choice.providers, adapter: choice.adapter, fallback: null };
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
  if (!(s.sampler in SAMPLERS)) throw new Error(`no sampler '${s.sampler}' — choose one of ${Object.keys(SAMPLERS).join(', ')}`);
  await fitPrior(m, s.n, s.precision);
  const [h, w] = gridOf(m, task);
  const pixels = h * w * m.tokenizer.pixelsPerToken ** 2;
  const imagePixels = m.tokenizer.config.imageSize ** 2;
  const times: RunTimes = { sampling: 0, previews: 0, previewCount: 0, decode: 0 };
  const t0 = performance.now();
  let mark = t0;
  const { preview, ...settings } = s;
  const result = await runTask(m, task, {
    ...settings,
    sampler: s.sampler as SamplerName,
    // the page has no control for it: the model's recommended one, when the model records it
    choiceTemperature: m.sampling?.choiceTemperature,
    onStep: async ({ step, steps, tokens }) => {
      const now = performance.now();
      times.sampling += now - mark;
      // Session runs on wasm resolve without returning to the event loop; yield to it so that a cancel
      // message posted meanwhile is delivered.
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (cancelled.has(id)) throw new Cancelled();
      const estimate = decodeMsPerImage * s.n * (pixels / imagePixels);
      const due = preview === 'every' || (preview === 'budget' && step < steps && times.previews + estimate <= PREVIEW_SHARE * (now - t0));
      let images: Images | undefined;
      if (due) {
        const d0 = performance.now();
        images = await decodePartial(m, tokens, s.n, h, w);
        const ms = performance.now() - d0;
        decodeMsPerImage = (ms / s.n) * (imagePixels / pixels);
        times.previews += ms;
        times.previewCount++;
      }
      post({ type: 'step', id, step, steps, elapsed: (performance.now() - t0) / 1000, images });
      mark = performance.now();
    },
  });
  times.decode = performance.now() - mark;
  decodeMsPerImage = (times.decode / s.n) * (imagePixels / pixels);
  post({ type: 'done', id, images: result.images, seconds: (performance.now() - t0) / 1000, times });
}

/** Lets the prior's sessions for another batch size or precision go before a large model builds those for `n` images. */
async function fitPrior(m: UnmaskModel, n: number, precision: Precision): Promise<void> {
  if (m.prior.causal) return;
  const chunk = `${Math.min(m.denoiser().maxChunk, 2 ** Math.ceil(Math.log2(Math.max(1, n))))} ${precision}`;
  if (priorChunk && chunk !== priorChunk && m.priorParams.count() * 4 > ONE_PRIOR_SESSION_BYTES) await m.releasePrior();
  priorChunk = chunk;
}

/**
 * Builds the sessions a run of `n` images needs (the prior's body and head, the decoder for n), so the
 * first Run doesn't wait for them; the page asks for this right after a load, while the user looks.
 */
async function warm(n: number, precision: Precision): Promise<void> {
  const m = model;
  if (!m || m.prior.causal) return;
  await fitPrior(m, n, precision);
  const t = m.tokenizer;
  const tokens = new Int32Array(n * t.latent * t.latent);
  await m.denoiser(precision).logProbs(tokens.fill(m.prior.codebookSize), n, new Int32Array(n), 1);
  await t.decode(tokens.fill(0), n);
}

async function handle(req: Request): Promise<void> {
  try {
    if (req.type === 'load') post({ type: 'loaded', id: req.id, info: await load(req.id, req.model, req.runtime, req.backend) });
    else if (req.type === 'warm') await warm(req.n, req.precision);
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
