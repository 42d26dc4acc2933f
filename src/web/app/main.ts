// The page: model and backend choice, task, sampling settings, source images and the mask painter, and
// the results history. All model work happens in the worker (engine.ts, worker.ts); this file turns the
// page's state into requests and shows the replies. body[data-state] says where the page is (loading,
// ready, running, error), for CSS and for the end-to-end tests.
import type { Images } from '../../data/images.ts';
import type { Precision } from '../../engine/quantize.ts';
import { Cancelled, Engine, type LoadProgress, type StepProgress } from './engine.ts';
import { History, type RunRecord, type TaskKind } from './history.ts';
import { MaskPainter, type MaskTool } from './mask.ts';
import { canvasOf, pick, pngOf } from './pixels.ts';
import type { Backend, Keep, Manifest, ModelEntry, ModelInfo, SampleSettings, Task } from './protocol.ts';
import { Source } from './sources.ts';

const HELP: Record<TaskKind, string> = {
  generate: 'New images from nothing: every token starts masked.',
  inpaint: 'Paint over what should change; the rest of the image is kept.',
  complete: 'Keep half of the image and let the model draw the rest.',
  stitch: 'Join the left of one image to the right of another; the seam is generated.',
  extend: 'Paint a canvas larger than the model was trained on, optionally around the image.',
};

/** How the library's samplers read in the schedule list; a sampler without a line here shows its name. */
const SAMPLER_NAMES: Record<string, string> = { random: 'random order (paper)', confidence: 'confidence (MaskGIT)' };
const MAX_SEED = 2 ** 32 - 1;

function $<T extends HTMLElement = HTMLElement>(selector: string, root: ParentNode = document): T {
  const el = root.querySelector<T>(selector);
  if (!el) throw new Error(`the page has no ${selector}`);
  return el;
}

const ui = {
  model: $<HTMLSelectElement>('#model'),
  backend: $<HTMLSelectElement>('#backend'),
  backendUsed: $('#backend-used'),
  loading: $('#loading'),
  loadProgress: $<HTMLProgressElement>('#load-progress'),
  loadText: $('#load-text'),
  help: $('#task-help'),
  steps: $<HTMLInputElement>('#steps'),
  temp: $<HTMLInputElement>('#temp'),
  schedule: $<HTMLSelectElement>('#schedule'),
  count: $<HTMLInputElement>('#count'),
  seed: $<HTMLInputElement>('#seed'),
  seedProblem: $('#seed-problem'),
  newSeed: $<HTMLInputElement>('#new-seed'),
  preview: $<HTMLSelectElement>('#preview'),
  precisionRow: $('#precision-row'),
  precision: $<HTMLSelectElement>('#precision'),
  classRow: $('#class-row'),
  classes: $<HTMLSelectElement>('#class'),
  guidanceRow: $('#guidance-row'),
  guidance: $<HTMLInputElement>('#guidance'),
  keep: $<HTMLSelectElement>('#keep'),
  seam: $<HTMLInputElement>('#seam'),
  extWidth: $<HTMLSelectElement>('#ext-width'),
  extHeight: $<HTMLSelectElement>('#ext-height'),
  extAround: $<HTMLInputElement>('#ext-around'),
  radius: $<HTMLInputElement>('#radius'),
  undo: $<HTMLButtonElement>('#undo'),
  redo: $<HTMLButtonElement>('#redo'),
  run: $<HTMLButtonElement>('#run'),
  stop: $<HTMLButtonElement>('#stop'),
  progress: $<HTMLProgressElement>('#progress'),
  status: $('#status'),
  hint: $('#hint'),
  scale: $<HTMLSelectElement>('#scale'),
};

let manifest: Manifest | null = null;
/** The worker that runs the loaded model. */
let engine: Engine | null = null;
let info: ModelInfo | null = null;
let loading = false;
let running = false;
let task: TaskKind = 'generate';
/** The steps asked for; the slider shows fewer only while the task's grid has fewer tokens. */
let wantedSteps = Number(ui.steps.value);
/** Seconds the last run's final decode took, per image pixel, for the ETA. */
let decodeSecondsPerPixel = 0;
let runCount = 0;

const sourceHost = {
  shape: () => (info ? { size: info.imageSize, channels: info.channels, input: info.input } : null),
  changed: (source: Source) => {
    if (source === sourceA && info && task === 'inpaint') painter.clear();
    updateControls();
  },
  report: (text: string, error: boolean) => setStatus(text, error),
};
const sourceA = new Source($('#source-a'), sourceHost);
const sourceB = new Source($('#source-b'), sourceHost);
const painter = new MaskPainter($<HTMLCanvasElement>('#source-a canvas.overlay'), () => updateControls());
const history = new History($('#results'), $<HTMLDialogElement>('#viewer'), {
  model: () => info?.name ?? null,
  scale: () => Number(ui.scale.value),
  canSave: () => !!manifest?.save,
  edit: (run, i) => useResult(run, i, sourceA),
  asRight: (run, i) => useResult(run, i, sourceB),
  download,
  save,
});

function setState(state: 'loading' | 'ready' | 'running' | 'error'): void {
  document.body.dataset.state = state;
}

function setStatus(text: string, error = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', error);
}

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

// ---- models and backends ------------------------------------------------------------------------

async function loadManifest(): Promise<void> {
  const r = await fetch('/api/models');
  if (!r.ok) throw new Error(`the server's model list answered ${r.status}`);
  manifest = (await r.json()) as Manifest;
  ui.model.replaceChildren(
    ...manifest.models.map((m) => {
      const option = new Option(m.files ? `${m.name} (${megabytes(m.bytes!)})` : `${m.name} (unavailable)`, m.name);
      option.title = m.problem ?? m.summary;
      option.disabled = !m.files;
      return option;
    }),
  );
  const usable = manifest.models.filter((m) => m.files);
  if (!usable.length) {
    setState('error');
    const why = manifest.models.map((m) => `${m.name}: ${m.problem}`).join('; ');
    setStatus(manifest.models.length ? `no model can be loaded (${why})` : 'the server lists no models — start unmask serve with --model RUN, or install an embedded model', true);
    return;
  }
  const asked = new URLSearchParams(location.search);
  const wanted = asked.get('model');
  if (['auto', 'wasm', 'webgpu'].includes(asked.get('backend') ?? '')) ui.backend.value = asked.get('backend')!;
  ui.model.value = usable.some((m) => m.name === wanted) ? wanted! : usable[0].name;
  await loadModel();
}

/**
 * Loads the chosen model on the chosen backend. A new backend gets a new worker, which replaces the
 * old one only once the model has loaded on it; a model or backend that fails leaves the working one.
 */
async function loadModel(): Promise<void> {
  const entry = manifest?.models.find((m) => m.name === ui.model.value);
  if (!manifest || !entry) return;
  const backend = ui.backend.value as Backend;
  const reuse = engine?.backend === backend;
  const target = reuse ? engine! : new Engine(backend, manifest);
  loading = true;
  setState('loading');
  setStatus(`loading ${entry.name}…`);
  ui.loading.hidden = false;
  showLoadProgress({ what: entry.name, loaded: 0, total: 1, cached: 0 });
  updateControls();
  try {
    const loaded = await target.load(entry, showLoadProgress);
    if (!reuse) {
      engine?.terminate();
      engine = target;
    }
    modelLoaded(loaded, entry);
    engine!.warm(Number(ui.count.value), precisionOf(loaded));
  } catch (e) {
    if (!reuse) target.terminate();
    ui.model.value = info?.name ?? ui.model.value;
    ui.backend.value = engine?.backend ?? ui.backend.value;
    const still = info ? ` — still running ${info.name} on ${backendLabel(info)}` : '';
    setStatus(`${entry.name} on ${backend}: ${e instanceof Error ? e.message : String(e)}${still}`, true);
    setState(info ? 'ready' : 'error');
  } finally {
    loading = false;
    ui.loading.hidden = true;
    updateControls();
  }
}

function showLoadProgress(p: LoadProgress): void {
  ui.loadProgress.max = Math.max(1, p.total);
  ui.loadProgress.value = p.loaded;
  const fromCache = p.cached > 0 ? `, ${megabytes(p.cached)} from cache` : '';
  ui.loadText.textContent = `${p.what}: ${megabytes(p.loaded)} of ${megabytes(p.total)}${fromCache}`;
}

function backendLabel(m: ModelInfo): string {
  const threads = `${m.threads} thread${m.threads === 1 ? '' : 's'}`;
  return m.providers[0] === 'webgpu' ? `WebGPU (${m.adapter}) and wasm, ${threads}` : `wasm, ${threads}`;
}

function modelLoaded(loaded: ModelInfo, entry: ModelEntry): void {
  const changed = info?.name !== loaded.name || info.imageSize !== loaded.imageSize || info.channels !== loaded.channels;
  info = loaded;
  const notes = [loaded.threadsNote, loaded.fallback && `WebGPU failed: ${loaded.fallback}`].filter(Boolean);
  ui.backendUsed.textContent = `running on ${backendLabel(loaded)}${notes.length ? ` (${notes.join('; ')})` : ''}`;
  ui.seam.max = String(loaded.latent - 2);
  const s = loaded.imageSize, f = loaded.pixelsPerToken;
  const sizes = [...new Set([1, 1.5, 2, 3, 4].map((k) => Math.round((k * s) / f) * f))];
  for (const select of [ui.extWidth, ui.extHeight]) {
    const before = select.value;
    select.replaceChildren(...sizes.map((v) => new Option(`${v} px`, String(v))));
    if (sizes.includes(Number(before))) select.value = before;
  }
  if (!sizes.includes(Number(ui.extWidth.value)) || changed) ui.extWidth.value = String(sizes[2]);
  fillSchedules(loaded.samplers);
  fillClasses(loaded.classes);
  fillScales(s);
  if (changed && loaded.sampling) {
    // The model's recommended sampling, from its evaluation.
    wantedSteps = loaded.sampling.steps;
    ui.temp.value = String(loaded.sampling.temperature);
    if (loaded.samplers.includes(loaded.sampling.schedule)) ui.schedule.value = loaded.sampling.schedule;
  }
  if (changed) {
    // On a CPU a 256-px image takes many seconds per step: such models start at one image at a time.
    if (loaded.imageSize >= 128 && loaded.providers[0] === 'wasm') ui.count.value = '1';
    // Sources hold images of the previous model's size and colours; start again.
    sourceA.clear();
    sourceB.clear();
    painter.reset(s, f);
    decodeSecondsPerPixel = 0;
    history.refresh();
  }
  setState('ready');
  const where = loaded.cachedBytes > 0 && loaded.fetchedBytes === 0 ? `all ${megabytes(loaded.cachedBytes)} from cache` : `${megabytes(loaded.fetchedBytes)} downloaded${loaded.cachedBytes ? `, ${megabytes(loaded.cachedBytes)} from cache` : ''}`;
  const kept = loaded.cacheNote ? `; ${loaded.cacheNote}` : '';
  setStatus(`${loaded.name} ready in ${loaded.seconds.toFixed(1)} s (${where}${kept}): ${s}×${s} px, ${loaded.latent}×${loaded.latent} tokens${loaded.causal ? ', the autoregressive baseline (generate only)' : ''}`);
  ui.model.title = entry.summary;
  updateControls();
}

/** The prior's precision: the page's choice on wasm; WebGPU runs float32 (int8 products would fall back to the CPU). */
function precisionOf(m: ModelInfo): Precision {
  return m.providers[0] === 'wasm' && !m.causal ? (ui.precision.value as Precision) : 'fp32';
}

function fillSchedules(samplers: readonly string[]): void {
  const before = ui.schedule.value;
  ui.schedule.replaceChildren(...samplers.map((name) => new Option(SAMPLER_NAMES[name] ?? name, name)));
  if (samplers.includes(before)) ui.schedule.value = before;
}

function fillClasses(classes: readonly string[]): void {
  ui.classes.replaceChildren(new Option('any', ''), ...classes.map((c) => new Option(c, c)));
}

/** PNG sizes: 1×, 2×, 4×, 8×, 16×; the first choice is the smallest that gives 256 px or more. */
function fillScales(size: number): void {
  const before = Number(ui.scale.value);
  const scales = [1, 2, 4, 8, 16];
  ui.scale.replaceChildren(...scales.map((k) => new Option(`${k}× (${size * k} px)`, String(k))));
  ui.scale.value = String(scales.includes(before) ? before : (scales.find((k) => size * k >= 256) ?? 16));
}

// ---- tasks and controls -------------------------------------------------------------------------

function setTask(kind: TaskKind): void {
  task = kind;
  for (const b of document.querySelectorAll<HTMLButtonElement>('[role=tab]')) b.setAttribute('aria-selected', String(b.dataset.task === kind));
  updateControls();
}

/** The token grid the current task samples. */
function gridTokens(m: ModelInfo): number {
  if (task !== 'extend') return m.latent * m.latent;
  const f = m.pixelsPerToken;
  return (Number(ui.extWidth.value) / f) * (Number(ui.extHeight.value) / f);
}

/** The seed typed, or null when it is not a whole number from 0 to 2³² − 1 (what the sampler's generator takes). */
function typedSeed(): number | null {
  const text = ui.seed.value.trim();
  const n = Number(text);
  return /^\d+$/.test(text) && n <= MAX_SEED ? n : null;
}

/** Why the current task can't run yet, or null. */
function blocker(): string | null {
  if (!info) return loading ? 'loading the model…' : 'no model is loaded';
  if (loading) return 'loading the model…';
  if (info.causal && task !== 'generate') return 'the autoregressive baseline only generates';
  if (!ui.newSeed.checked && typedSeed() === null) return `the seed must be a whole number from 0 to ${MAX_SEED}`;
  if (['inpaint', 'complete', 'stitch'].includes(task) && !sourceA.image) return 'load an image first (or pick “Edit” on a result)';
  if (task === 'stitch' && !sourceB.image) return 'load the right-hand image too';
  if (task === 'extend' && ui.extAround.checked && !sourceA.image) return 'load the image to extend around';
  if (task === 'inpaint' && painter.empty) return 'paint over the part to regenerate';
  return null;
}

function updateControls(): void {
  ui.help.textContent = HELP[task];
  for (const el of document.querySelectorAll<HTMLElement>('[data-for]')) el.hidden = el.dataset.for !== task;
  sourceA.el.hidden = task === 'generate' || (task === 'extend' && !ui.extAround.checked);
  sourceB.el.hidden = task !== 'stitch';
  $('.label', sourceA.el).textContent = task === 'stitch' ? 'Left image' : 'Image';
  $('canvas.overlay', sourceA.el).hidden = !(task === 'inpaint' || task === 'complete');
  painter.enabled = task === 'inpaint';
  painter.showMask(task === 'complete' && info ? keepMask(info.imageSize, ui.keep.value as Keep) : null);
  ui.undo.disabled = !painter.canUndo;
  ui.redo.disabled = !painter.canRedo;
  $('#radius-out').textContent = `${ui.radius.value} px`;
  if (info) {
    const max = gridTokens(info);
    ui.steps.max = String(max);
    ui.steps.value = String(Math.min(wantedSteps, max));
  }
  ui.steps.disabled = !!info?.causal || running;
  for (const [input, out] of [[ui.steps, '#steps-out'], [ui.temp, '#temp-out'], [ui.count, '#count-out'], [ui.seam, '#seam-out'], [ui.guidance, '#guidance-out']] as const) $(out).textContent = input.value;
  if (info?.causal) $('#steps-out').textContent = String(gridTokens(info));
  ui.classRow.hidden = !info?.classes.length;
  ui.precisionRow.hidden = !info || info.providers[0] !== 'wasm' || info.causal;
  ui.guidanceRow.hidden = !info?.classes.length || !ui.classes.value;
  const seedBad = !ui.newSeed.checked && typedSeed() === null;
  ui.seed.setAttribute('aria-invalid', String(seedBad));
  ui.seedProblem.hidden = !seedBad;
  ui.seedProblem.textContent = seedBad ? `A whole number from 0 to ${MAX_SEED}, please.` : '';
  ui.run.textContent = task[0].toUpperCase() + task.slice(1);
  const why = blocker();
  ui.run.disabled = running || !!why;
  ui.run.title = why ?? '';
  ui.stop.hidden = !running;
  ui.model.disabled = ui.backend.disabled = running || loading;
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

/** What the run starts from, shown as "before" beside its results. */
function inputsOf(t: Task): Images[] {
  if (t.kind === 'inpaint' || t.kind === 'complete') return [t.image];
  if (t.kind === 'stitch') return [t.left, t.right];
  return t.kind === 'extend' && t.image ? [t.image] : [];
}

async function run(): Promise<void> {
  const m = info;
  if (!m || !engine || blocker()) return;
  if (ui.newSeed.checked) ui.seed.value = String(crypto.getRandomValues(new Uint32Array(1))[0]);
  const label = m.classes.length && ui.classes.value ? ui.classes.value : undefined;
  const settings: SampleSettings = {
    n: Number(ui.count.value),
    steps: m.causal ? gridTokens(m) : Number(ui.steps.value),
    temperature: Number(ui.temp.value),
    sampler: ui.schedule.value,
    seed: typedSeed()!,
    ...(label ? { label, guidance: Number(ui.guidance.value) } : {}),
    preview: ui.preview.value as SampleSettings['preview'],
    precision: precisionOf(m),
  };
  const t = currentTask();
  const kind = task;
  const [width, height] = t.kind === 'extend' ? [t.width, t.height] : [m.imageSize, m.imageSize];
  const hadFocus = document.activeElement === ui.run;
  running = true;
  setState('running');
  setStatus(`${kind}: starting…`);
  ui.progress.hidden = false;
  ui.progress.value = 0;
  history.startLive(settings.n, width, height, m.imageSize, `Running: ${kind}, seed ${settings.seed}, ${settings.steps} steps…`);
  updateControls();
  // The Run button is disabled while running: keep the keyboard user on Stop rather than on the page.
  if (hadFocus) ui.stop.focus();
  const onStep = (p: StepProgress) => {
    ui.progress.max = p.steps;
    ui.progress.value = p.step;
    const perStep = p.elapsed / p.step;
    const left = (p.steps - p.step) * perStep + decodeSecondsPerPixel * settings.n * width * height;
    setStatus(`${kind}: step ${p.step} of ${p.steps} · ${perStep.toFixed(2)} s per step · about ${Math.ceil(left)} s left`);
    if (p.images) history.showLive(p.images);
  };
  try {
    const r = await engine.run(t, settings, onStep);
    decodeSecondsPerPixel = r.times.decode / 1000 / (settings.n * width * height);
    const record: RunRecord = {
      number: ++runCount,
      model: m.name,
      unit: m.imageSize,
      task: kind,
      seed: settings.seed,
      steps: settings.steps,
      sampler: settings.sampler,
      temperature: settings.temperature,
      label,
      images: r.images,
      before: inputsOf(t),
      seconds: r.seconds,
      times: r.times,
    };
    history.add(record);
    const perStep = r.times.sampling / 1000 / settings.steps;
    setStatus(`${kind}: ${r.images.n} image(s) in ${r.seconds.toFixed(2)} s (seed ${settings.seed}) · ${perStep.toFixed(2)} s per step${settings.precision === 'int8' ? ' · int8' : ''}`);
  } catch (e) {
    history.dropLive();
    if (e instanceof Cancelled) setStatus('stopped');
    else setStatus(e instanceof Error ? e.message : String(e), true);
  } finally {
    running = false;
    ui.progress.hidden = true;
    setState('ready');
    updateControls();
    if (hadFocus || document.activeElement === document.body || document.activeElement === ui.stop) (ui.run.disabled ? ui.stop : ui.run).focus();
  }
}

// ---- results --------------------------------------------------------------------------------------

function fileName(r: RunRecord, i: number, k: number): string {
  return `unmask-${r.model}-${r.task}-seed${r.seed}-${i + 1}${k > 1 ? `-${k}x` : ''}.png`;
}

function useResult(r: RunRecord, i: number, source: Source): void {
  if (!info || r.model !== info.name) return;
  const size = info.imageSize;
  if (r.images.width === size && r.images.height === size) source.useImage(pick(r.images, i));
  else source.usePicture(canvasOf(r.images, i), `image ${i + 1} of run ${r.number}`);
  if (source === sourceA && (task === 'generate' || task === 'extend')) setTask('inpaint');
  if (source === sourceB) setTask('stitch');
}

async function download(r: RunRecord, i: number): Promise<void> {
  const k = Number(ui.scale.value);
  const url = URL.createObjectURL(await pngOf(canvasOf(r.images, i, k)));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName(r, i, k);
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function save(r: RunRecord, i: number): Promise<void> {
  const k = Number(ui.scale.value);
  const name = fileName(r, i, k);
  try {
    const res = await fetch(`/api/save?name=${encodeURIComponent(name)}`, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: await pngOf(canvasOf(r.images, i, k)) });
    const body = (await res.json().catch(() => ({}))) as { path?: string; error?: string };
    setStatus(res.ok ? `saved ${body.path}` : `saving ${name} failed: ${body.error ?? `the server answered ${res.status}`}`, !res.ok);
  } catch {
    setStatus(`saving ${name} failed: the server can't be reached — is unmask serve still running? (PNG still downloads)`, true);
  }
}

// ---- wiring ---------------------------------------------------------------------------------------

for (const b of document.querySelectorAll<HTMLButtonElement>('[role=tab]')) b.addEventListener('click', () => setTask(b.dataset.task as TaskKind));
for (const r of document.querySelectorAll<HTMLInputElement>('input[name=tool]')) {
  r.addEventListener('change', () => {
    painter.tool = r.value as MaskTool;
    painter.refresh();
  });
}
ui.radius.addEventListener('input', () => {
  painter.radius = Number(ui.radius.value);
  painter.refresh();
  updateControls();
});
ui.steps.addEventListener('input', () => (wantedSteps = Number(ui.steps.value)));
ui.undo.addEventListener('click', () => painter.undo());
ui.redo.addEventListener('click', () => painter.redo());
$('#clear-mask').addEventListener('click', () => painter.clear());
$('#invert-mask').addEventListener('click', () => painter.invert());
for (const el of [ui.steps, ui.temp, ui.count, ui.seam, ui.keep, ui.extWidth, ui.extHeight, ui.extAround, ui.seed, ui.newSeed, ui.classes, ui.guidance]) {
  el.addEventListener('input', () => updateControls());
  el.addEventListener('change', () => updateControls());
}
ui.model.addEventListener('change', () => void loadModel());
// the other precision's sessions, built while the user looks
ui.precision.addEventListener('change', () => info && engine?.warm(Number(ui.count.value), precisionOf(info)));
ui.backend.addEventListener('change', () => void loadModel());
ui.run.addEventListener('click', () => void run());
ui.stop.addEventListener('click', () => engine?.cancel());
document.addEventListener('keydown', (e) => {
  const typing = e.target instanceof HTMLInputElement && ['text', 'number'].includes(e.target.type);
  if (typing || task !== 'inpaint' || $<HTMLDialogElement>('#viewer').open) return;
  const key = e.key.toLowerCase();
  if ((e.ctrlKey || e.metaKey) && (key === 'y' || (key === 'z' && e.shiftKey))) painter.redo();
  else if ((e.ctrlKey || e.metaKey) && key === 'z') painter.undo();
  else if (e.key === '[' || e.key === ']') {
    ui.radius.value = String(Number(ui.radius.value) + (e.key === ']' ? 1 : -1));
    ui.radius.dispatchEvent(new Event('input'));
  } else return;
  e.preventDefault();
});

setTask('generate');
loadManifest().catch((e: Error) => {
  setState('error');
  setStatus(`${e.message} — is unmask serve running?`, true);
});

