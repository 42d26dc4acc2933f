// The page: model and task choice, sampling settings, source images and the mask painter, results.
// All model work happens in worker.ts; this file only turns the page's state into requests and draws
// the replies. body[data-state] says where the page is (loading, ready, running, error), for CSS and
// for the end-to-end tests.
import type { Images } from '../../data/images.ts';
import { MaskPainter, type MaskTool } from './mask.ts';
import { drawImage, fitImage, pick } from './pixels.ts';
import type { Backend, Keep, ModelEntry, ModelInfo, ModelList, Reply, Request, SampleSettings, Task } from './protocol.ts';

type TaskKind = Task['kind'];

const HELP: Record<TaskKind, string> = {
  generate: 'New images from nothing: every token starts masked.',
  inpaint: 'Paint over what should change; the rest of the image is kept.',
  complete: 'Keep half of the image and let the model draw the rest.',
  stitch: 'Join the left of one image to the right of another; the seam is generated.',
  extend: 'Paint a canvas larger than the model was trained on, optionally around the image.',
};

function $<T extends HTMLElement = HTMLElement>(selector: string, root: ParentNode = document): T {
  const el = root.querySelector<T>(selector);
  if (!el) throw new Error(`the page has no ${selector}`);
  return el;
}

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
let nextId = 1;
let models: ModelEntry[] = [];
let canSave = false;
let info: ModelInfo | null = null;
let task: TaskKind = 'generate';
/** The request whose replies the page is waiting for. */
let pending: { id: number; kind: 'load' | 'run'; task?: TaskKind; seed?: number } | null = null;
let lastResults: Images | null = null;

/** A source image slot: a canvas that takes dropped or loaded files and results. */
class Source {
  image: Images | null = null;
  readonly canvas: HTMLCanvasElement;
  readonly stack: HTMLElement;

  constructor(readonly el: HTMLElement) {
    this.canvas = $<HTMLCanvasElement>('canvas.image', el);
    this.stack = $('.stack', el);
    const input = $<HTMLInputElement>('input[type=file]', el);
    input.addEventListener('change', () => {
      if (input.files?.[0]) void this.loadFile(input.files[0]);
      input.value = '';
    });
    this.stack.addEventListener('dragover', (e) => {
      e.preventDefault();
      this.stack.classList.add('drop');
    });
    this.stack.addEventListener('dragleave', () => this.stack.classList.remove('drop'));
    this.stack.addEventListener('drop', (e) => {
      e.preventDefault();
      this.stack.classList.remove('drop');
      const file = e.dataTransfer?.files[0];
      if (file) void this.loadFile(file);
    });
  }

  async loadFile(file: File): Promise<void> {
    if (!info) return;
    try {
      const bitmap = await createImageBitmap(file);
      this.set(fitImage(bitmap, info.imageSize, info.channels));
      bitmap.close();
    } catch {
      setStatus(`${file.name} is not an image this browser can read — try a PNG or JPEG`, true);
    }
  }

  set(image: Images | null): void {
    this.image = image;
    this.stack.classList.toggle('filled', !!image);
    if (image) drawImage(this.canvas, image);
    sourceChanged(this);
  }
}

const sourceA = new Source($('#source-a'));
const sourceB = new Source($('#source-b'));
const painter = new MaskPainter($<HTMLCanvasElement>('#source-a canvas.overlay'), () => updateControls());

const ui = {
  model: $<HTMLSelectElement>('#model'),
  backend: $<HTMLSelectElement>('#backend'),
  backendUsed: $('#backend-used'),
  help: $('#task-help'),
  steps: $<HTMLInputElement>('#steps'),
  temp: $<HTMLInputElement>('#temp'),
  schedule: $<HTMLSelectElement>('#schedule'),
  count: $<HTMLInputElement>('#count'),
  seed: $<HTMLInputElement>('#seed'),
  newSeed: $<HTMLInputElement>('#new-seed'),
  keep: $<HTMLSelectElement>('#keep'),
  seam: $<HTMLInputElement>('#seam'),
  extWidth: $<HTMLSelectElement>('#ext-width'),
  extHeight: $<HTMLSelectElement>('#ext-height'),
  extAround: $<HTMLInputElement>('#ext-around'),
  radius: $<HTMLInputElement>('#radius'),
  run: $<HTMLButtonElement>('#run'),
  stop: $<HTMLButtonElement>('#stop'),
  progress: $<HTMLProgressElement>('#progress'),
  status: $('#status'),
  hint: $('#hint'),
  results: $('#results'),
};

function send(req: Request): void {
  worker.postMessage(req);
}

function setState(state: 'loading' | 'ready' | 'running' | 'error'): void {
  document.body.dataset.state = state;
}

function setStatus(text: string, error = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', error);
}

// ---- models -------------------------------------------------------------------------------------

async function loadModelList(): Promise<void> {
  const r = await fetch('/api/models');
  if (!r.ok) throw new Error(`the server's model list answered ${r.status}`);
  const list = (await r.json()) as ModelList;
  models = list.models;
  canSave = list.save;
  ui.model.replaceChildren(
    ...models.map((m) => {
      const option = new Option(m.files ? `${m.name} (${(m.bytes! / 1e6).toFixed(0)} MB)` : `${m.name} (unavailable)`, m.name);
      option.title = m.problem ?? m.summary;
      option.disabled = !m.files;
      return option;
    }),
  );
  if (!models.length) {
    setState('error');
    setStatus('the server lists no models — start unmask serve with --model RUN, or install an embedded model', true);
    return;
  }
  const wanted = new URLSearchParams(location.search).get('model');
  const usable = models.filter((m) => m.files);
  ui.model.value = usable.some((m) => m.name === wanted) ? wanted! : (usable[0] ?? models[0]).name;
  selectModel();
}

function selectModel(): void {
  const entry = models.find((m) => m.name === ui.model.value);
  if (!entry) return;
  info = null;
  const id = nextId++;
  pending = { id, kind: 'load' };
  setState('loading');
  setStatus(`loading ${entry.name} (${((entry.bytes ?? 0) / 1e6).toFixed(1)} MB)…`);
  send({ type: 'load', id, model: entry, backend: ui.backend.value as Backend });
  updateControls();
}

function modelLoaded(loaded: ModelInfo): void {
  info = loaded;
  ui.backendUsed.textContent = `running on ${loaded.backend}${loaded.backend === 'wasm' && crossOriginIsolated ? ' (threads)' : ''}`;
  const n = loaded.latent * loaded.latent;
  ui.steps.max = String(n);
  ui.seam.max = String(loaded.latent - 2);
  const s = loaded.imageSize, f = loaded.pixelsPerToken;
  const sizes = [1, 1.5, 2, 3, 4].map((k) => Math.round((k * s) / f) * f);
  for (const select of [ui.extWidth, ui.extHeight]) select.replaceChildren(...[...new Set(sizes)].map((v) => new Option(`${v} px`, String(v))));
  ui.extWidth.value = String(sizes[2]);
  // Sources hold images of the previous model's size; start again.
  sourceA.set(null);
  sourceB.set(null);
  painter.reset(s, f);
  setState('ready');
  setStatus(`${loaded.name} ready: ${s}×${s} px, ${loaded.latent}×${loaded.latent} tokens${loaded.causal ? ' (autoregressive baseline: generate only)' : ''}`);
  updateControls();
}

// ---- tasks and controls -------------------------------------------------------------------------

function setTask(kind: TaskKind): void {
  task = kind;
  for (const b of document.querySelectorAll<HTMLButtonElement>('[role=tab]')) b.setAttribute('aria-selected', String(b.dataset.task === kind));
  updateControls();
}

/** The token grid the current task samples. */
function gridTokens(): number {
  if (!info) return 1;
  if (task !== 'extend') return info.latent * info.latent;
  const f = info.pixelsPerToken;
  return (Number(ui.extWidth.value) / f) * (Number(ui.extHeight.value) / f);
}

/** Why the current task can't run yet, or null. */
function blocker(): string | null {
  if (!info) return 'loading the model…';
  if (info.causal && task !== 'generate') return 'the autoregressive baseline only generates';
  if (['inpaint', 'complete', 'stitch'].includes(task) && !sourceA.image) return 'load an image first (or pick “Edit” on a result)';
  if (task === 'stitch' && !sourceB.image) return 'load the right-hand image too';
  if (task === 'extend' && ui.extAround.checked && !sourceA.image) return 'load the image to extend around';
  if (task === 'inpaint' && painter.empty) return 'paint over the part to regenerate';
  return null;
}

function updateControls(): void {
  const running = pending?.kind === 'run';
  ui.help.textContent = HELP[task];
  for (const el of document.querySelectorAll<HTMLElement>('[data-for]')) el.hidden = el.dataset.for !== task;
  const showA = task !== 'generate' && (task !== 'extend' || ui.extAround.checked);
  sourceA.el.hidden = !showA;
  sourceB.el.hidden = task !== 'stitch';
  $('.label', sourceA.el).textContent = task === 'stitch' ? 'Left image' : 'Image';
  $('canvas.overlay', sourceA.el).hidden = !(task === 'inpaint' || task === 'complete');
  painter.enabled = task === 'inpaint';
  painter.showMask(task === 'complete' && info ? keepMask(info.imageSize, ui.keep.value as Keep) : null);
  const max = gridTokens();
  ui.steps.max = String(max);
  if (Number(ui.steps.value) > max) ui.steps.value = String(max);
  ui.steps.disabled = !!info?.causal || running;
  for (const [input, out] of [[ui.steps, '#steps-out'], [ui.temp, '#temp-out'], [ui.count, '#count-out'], [ui.seam, '#seam-out']] as const) $(out).textContent = input.value;
  if (info?.causal) $('#steps-out').textContent = String(max);
  ui.run.textContent = task[0].toUpperCase() + task.slice(1);
  const why = blocker();
  ui.run.disabled = running || !!why;
  ui.run.title = why ?? '';
  ui.stop.hidden = !running;
  ui.model.disabled = ui.backend.disabled = running;
  ui.hint.textContent = running ? '' : (why ?? '');
}

/** White (regenerated) everywhere but the kept half. */
function keepMask(size: number, keep: Keep): Float32Array {
  const m = new Float32Array(size * size);
  const half = size / 2;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const kept = keep === 'top' ? y < half : keep === 'bottom' ? y >= half : keep === 'left' ? x < half : x >= half;
      m[y * size + x] = kept ? 0 : 1;
    }
  return m;
}

function sourceChanged(source: Source): void {
  if (source === sourceA && info && task === 'inpaint') painter.clear();
  updateControls();
}

function currentTask(): Task {
  switch (task) {
    case 'generate':
      return { kind: 'generate' };
    case 'inpaint':
      return { kind: 'inpaint', image: sourceA.image!, mask: painter.mask.slice() };
    case 'complete':
      return { kind: 'complete', image: sourceA.image!, keep: ui.keep.value as Keep };
    case 'stitch':
      return { kind: 'stitch', left: sourceA.image!, right: sourceB.image!, seam: Number(ui.seam.value) };
    case 'extend':
      return { kind: 'extend', width: Number(ui.extWidth.value), height: Number(ui.extHeight.value), image: ui.extAround.checked ? sourceA.image! : undefined };
  }
}

function run(): void {
  if (!info || blocker()) return;
  if (ui.newSeed.checked) ui.seed.value = String(Math.floor(Math.random() * 1e9));
  const settings: SampleSettings = {
    n: Number(ui.count.value),
    steps: info.causal ? gridTokens() : Number(ui.steps.value),
    temperature: Number(ui.temp.value),
    sampler: ui.schedule.value as SampleSettings['sampler'],
    seed: Math.max(0, Math.floor(Number(ui.seed.value) || 0)),
  };
  const id = nextId++;
  pending = { id, kind: 'run', task, seed: settings.seed };
  setState('running');
  setStatus(`${task}: starting…`);
  ui.progress.hidden = false;
  ui.progress.value = 0;
  ui.results.replaceChildren();
  lastResults = null;
  send({ type: 'run', id, task: currentTask(), settings });
  updateControls();
}

// ---- results --------------------------------------------------------------------------------------

function fileName(i: number): string {
  return `unmask-${info?.name ?? 'model'}-${pending?.task ?? task}-seed${ui.seed.value}-${i + 1}.png`;
}

function showImages(images: Images, final: boolean): void {
  const cards = ui.results.querySelectorAll<HTMLElement>('.result');
  if (cards.length !== images.n) {
    ui.results.replaceChildren(...Array.from({ length: images.n }, (_, i) => resultCard(i, images.width > images.height)));
  }
  ui.results.querySelectorAll<HTMLCanvasElement>('.result canvas').forEach((c, i) => drawImage(c, images, i));
  for (const b of ui.results.querySelectorAll<HTMLButtonElement>('.result button')) b.disabled = !final;
}

function resultCard(i: number, wide: boolean): HTMLElement {
  const fig = document.createElement('figure');
  fig.className = wide ? 'result wide' : 'result';
  const canvas = document.createElement('canvas');
  canvas.setAttribute('aria-label', `result ${i + 1}`);
  const caption = document.createElement('figcaption');
  const button = (label: string, title: string, action: () => void) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.title = title;
    b.addEventListener('click', action);
    caption.append(b);
  };
  button('PNG', 'download this image as a PNG', () => void download(canvas, fileName(i)));
  if (!wide) {
    button('Edit', 'use this image as the source (inpaint, complete, extend, stitch left)', () => useResult(i, sourceA));
    button('As right', 'use this image as the right-hand image for stitching', () => useResult(i, sourceB));
  }
  if (canSave) button('Save', "save this image into the server's --out folder", () => void save(canvas, fileName(i)));
  fig.append(canvas, caption);
  return fig;
}

function useResult(i: number, source: Source): void {
  if (!lastResults) return;
  source.set(pick(lastResults, i));
  if (source === sourceA && task === 'generate') setTask('inpaint');
  if (source === sourceB) setTask('stitch');
}

function pngOf(canvas: HTMLCanvasElement): Promise<Blob> {
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the browser could not encode the PNG'))), 'image/png'));
}

async function download(canvas: HTMLCanvasElement, name: string): Promise<void> {
  const url = URL.createObjectURL(await pngOf(canvas));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function save(canvas: HTMLCanvasElement, name: string): Promise<void> {
  const r = await fetch(`/api/save?name=${encodeURIComponent(name)}`, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: await pngOf(canvas) });
  const body = (await r.json().catch(() => ({}))) as { path?: string; error?: string };
  setStatus(r.ok ? `saved ${body.path}` : `saving failed: ${body.error ?? r.status}`, !r.ok);
}

// ---- worker replies -----------------------------------------------------------------------------

worker.addEventListener('message', (e: MessageEvent<Reply>) => {
  const reply = e.data;
  if (!pending || reply.id !== pending.id) return;
  switch (reply.type) {
    case 'loaded':
      pending = null;
      modelLoaded(reply.info);
      return;
    case 'step':
      ui.progress.max = reply.steps;
      ui.progress.value = reply.step;
      setStatus(`${pending.task}: step ${reply.step} of ${reply.steps}`);
      showImages(reply.images, false);
      return;
    case 'done': {
      const kind = pending.task;
      pending = null;
      lastResults = reply.images;
      showImages(reply.images, true);
      ui.progress.hidden = true;
      setState('ready');
      setStatus(`${kind}: ${reply.images.n} image(s) in ${reply.seconds.toFixed(2)} s (seed ${ui.seed.value})`);
      updateControls();
      return;
    }
    case 'cancelled':
      pending = null;
      ui.progress.hidden = true;
      setState('ready');
      setStatus('stopped');
      updateControls();
      return;
    case 'error':
      pending = null;
      ui.progress.hidden = true;
      setState(info ? 'ready' : 'error');
      setStatus(reply.message, true);
      updateControls();
      return;
  }
});

worker.addEventListener('error', (e) => {
  pending = null;
  setState('error');
  setStatus(`the model worker failed: ${e.message}`, true);
});

// ---- wiring ---------------------------------------------------------------------------------------

for (const b of document.querySelectorAll<HTMLButtonElement>('[role=tab]')) b.addEventListener('click', () => setTask(b.dataset.task as TaskKind));
for (const r of document.querySelectorAll<HTMLInputElement>('input[name=tool]')) r.addEventListener('change', () => (painter.tool = r.value as MaskTool));
ui.radius.addEventListener('input', () => (painter.radius = Number(ui.radius.value)));
$('#clear-mask').addEventListener('click', () => painter.clear());
$('#invert-mask').addEventListener('click', () => painter.invert());
for (const el of [ui.steps, ui.temp, ui.count, ui.seam, ui.keep, ui.extWidth, ui.extHeight, ui.extAround]) el.addEventListener('input', () => updateControls());
ui.model.addEventListener('change', () => selectModel());
ui.backend.addEventListener('change', () => selectModel());
ui.run.addEventListener('click', () => run());
ui.stop.addEventListener('click', () => pending && send({ type: 'cancel', id: pending.id }));

setTask('generate');
loadModelList().catch((e: Error) => {
  setState('error');
  setStatus(`${e.message} — is unmask serve running?`, true);
});
