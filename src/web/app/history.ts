// The results history: every run, newest first, with its model, task, seed and steps; each image named
// for screen readers, opened large on a click (before and after, for edits), downloadable as a PNG at an
// enlarged size. Runs of another model than the loaded one stay visible and downloadable, marked, and are
// not offered as inputs.
import type { Images } from '../../data/images.ts';
import { canvasOf, drawImage } from './pixels.ts';
import type { RunTimes, Task } from './protocol.ts';

export type TaskKind = Task['kind'];

export interface RunRecord {
  /** 1, 2, … in the order runs finished. */
  number: number;
  model: string;
  /** The model's image size, which results are shown in proportion to. */
  unit: number;
  task: TaskKind;
  seed: number;
  steps: number;
  sampler: string;
  temperature: number;
  label?: string;
  images: Images;
  /** What the run started from (the source; for stitch the left and right images), for before/after. */
  before: Images[];
  seconds: number;
  /** Where the run's time went (ms). */
  times: RunTimes;
}

export interface HistoryActions {
  /** The loaded model's name. */
  model(): string | null;
  /** Scale of downloaded PNGs. */
  scale(): number;
  canSave(): boolean;
  edit(run: RunRecord, index: number): void;
  asRight(run: RunRecord, index: number): void;
  download(run: RunRecord, index: number): Promise<void>;
  save(run: RunRecord, index: number): Promise<void>;
}

/** Most runs kept; older ones are dropped. */
const KEEP = 30;
/** Results are shown this many CSS pixels wide per model image (a 32 px model: 128 px; its 128 px extension: 512 px). */
const SHOWN_WIDTH = 128;

export function describe(run: RunRecord): string {
  const label = run.label ? `, class ${run.label}` : '';
  return `${run.task}, ${run.model}${label}, seed ${run.seed}, ${run.steps} steps, ${run.sampler}, temperature ${run.temperature}, ${run.seconds.toFixed(2)} s`;
}

export class History {
  private runs: RunRecord[] = [];
  private live: HTMLElement | null = null;
  private viewing: { run: RunRecord; index: number; opener: HTMLElement | null } | null = null;

  constructor(
    private list: HTMLElement,
    private viewer: HTMLDialogElement,
    private actions: HistoryActions,
  ) {
    viewer.querySelector('[data-act=prev]')!.addEventListener('click', () => this.step(-1));
    viewer.querySelector('[data-act=next]')!.addEventListener('click', () => this.step(1));
    viewer.querySelector('[data-act=download]')!.addEventListener('click', () => this.viewing && void this.actions.download(this.viewing.run, this.viewing.index));
    viewer.querySelector('[data-act=close]')!.addEventListener('click', () => viewer.close());
    viewer.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
        e.preventDefault();
        this.step(e.key === 'ArrowLeft' ? -1 : 1);
      }
    });
    viewer.addEventListener('close', () => {
      this.viewing?.opener?.focus();
      this.viewing = null;
    });
  }

  get latest(): RunRecord | null {
    return this.runs[0] ?? null;
  }

  /** A placeholder group for the run in progress, shown step by step. */
  startLive(n: number, width: number, height: number, unit: number, title: string): void {
    this.dropLive();
    this.list.querySelector('.empty')?.remove();
    const group = document.createElement('section');
    group.className = 'run live';
    group.setAttribute('aria-busy', 'true');
    const h = document.createElement('h3');
    h.textContent = title;
    const images = document.createElement('div');
    images.className = 'images';
    for (let i = 0; i < n; i++) {
      const c = document.createElement('canvas');
      c.width = width;
      c.height = height;
      c.setAttribute('role', 'img');
      c.setAttribute('aria-label', `image ${i + 1} of the run in progress`);
      const fig = document.createElement('figure');
      fig.className = 'result';
      fig.style.width = `${(width / unit) * SHOWN_WIDTH}px`;
      fig.append(c);
      images.append(fig);
    }
    group.append(h, images);
    this.list.prepend(group);
    this.live = group;
  }

  showLive(images: Images): void {
    this.live?.querySelectorAll('canvas').forEach((c, i) => drawImage(c, images, i));
  }

  dropLive(): void {
    this.live?.remove();
    this.live = null;
    if (!this.list.children.length) this.list.append(emptyNote());
  }

  add(run: RunRecord): void {
    this.runs.unshift(run);
    const group = this.render(run);
    if (this.live) this.live.replaceWith(group);
    else this.list.prepend(group);
    this.live = null;
    this.list.querySelector('.empty')?.remove();
    for (const old of this.runs.splice(KEEP)) this.list.querySelector(`[data-run="${old.number}"]`)?.remove();
  }

  /** Marks the runs of other models than the loaded one (after a model change). */
  refresh(): void {
    for (const run of this.runs) this.list.querySelector(`[data-run="${run.number}"]`)?.replaceWith(this.render(run));
  }

  private render(run: RunRecord): HTMLElement {
    const group = document.createElement('section');
    group.className = 'run';
    group.dataset.run = String(run.number);
    group.dataset.times = JSON.stringify({ seconds: run.seconds, ...run.times });
    const other = run.model !== this.actions.model();
    group.classList.toggle('other-model', other);
    const title = document.createElement('h3');
    title.id = `run-${run.number}`;
    title.textContent = `Run ${run.number}: ${describe(run)}`;
    group.setAttribute('aria-labelledby', title.id);
    group.append(title);
    if (other) {
      const note = document.createElement('p');
      note.className = 'muted note';
      note.textContent = `made with ${run.model} — load ${run.model} to edit these`;
      group.append(note);
    }
    const images = document.createElement('div');
    images.className = 'images';
    for (let i = 0; i < run.images.n; i++) images.append(this.card(run, i, other));
    group.append(images);
    return group;
  }

  private card(run: RunRecord, i: number, other: boolean): HTMLElement {
    const name = `image ${i + 1} of run ${run.number}`;
    const fig = document.createElement('figure');
    fig.className = 'result';
    const thumb = document.createElement('button');
    thumb.type = 'button';
    thumb.className = 'thumb';
    thumb.setAttribute('aria-label', `Enlarge ${name}`);
    const canvas = document.createElement('canvas');
    drawImage(canvas, run.images, i);
    // The card is as wide as the image is shown; its buttons wrap under it.
    fig.style.width = `${(run.images.width / run.unit) * SHOWN_WIDTH}px`;
    thumb.append(canvas);
    thumb.addEventListener('click', () => this.open(run, i, thumb));
    const caption = document.createElement('figcaption');
    const button = (text: string, label: string, action: () => void) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = text;
      b.setAttribute('aria-label', label);
      b.addEventListener('click', action);
      caption.append(b);
    };
    button('PNG', `Download ${name} as PNG`, () => void this.actions.download(run, i));
    if (!other) {
      button('Edit', `Edit ${name}`, () => this.actions.edit(run, i));
      button('As right', `Use ${name} as the right image for stitching`, () => this.actions.asRight(run, i));
    }
    if (this.actions.canSave()) button('Save', `Save ${name} on the server`, () => void this.actions.save(run, i));
    fig.append(thumb, caption);
    return fig;
  }

  /** Opens image `index` of `run` large, beside what it was made from. */
  open(run: RunRecord, index: number, opener: HTMLElement | null = null): void {
    this.viewing = { run, index, opener: opener ?? this.viewing?.opener ?? null };
    const v = this.viewer;
    v.querySelector('h2')!.textContent = `Run ${run.number}, image ${index + 1} of ${run.images.n}`;
    const t = run.times;
    v.querySelector('.meta')!.textContent = `${describe(run)} — sampling ${(t.sampling / 1000).toFixed(2)} s, ${t.previewCount} preview(s) ${(t.previews / 1000).toFixed(2)} s, decoding ${(t.decode / 1000).toFixed(2)} s`;
    const panes = run.before.map((b, j) => pane(run.before.length > 1 ? (j ? 'Before (right)' : 'Before (left)') : 'Before', b, 0, run.unit));
    panes.push(pane(run.before.length ? 'After' : `Image ${index + 1}`, run.images, index, run.unit));
    v.querySelector('.compare')!.replaceChildren(...panes);
    (v.querySelector('[data-act=prev]') as HTMLButtonElement).disabled = index === 0;
    (v.querySelector('[data-act=next]') as HTMLButtonElement).disabled = index === run.images.n - 1;
    v.querySelector('[data-act=download]')!.textContent = `Download PNG (${this.actions.scale()}×)`;
    if (!v.open) v.showModal();
  }

  private step(by: number): void {
    if (!this.viewing) return;
    const { run, index } = this.viewing;
    const next = index + by;
    if (next >= 0 && next < run.images.n) this.open(run, next);
  }
}

function pane(caption: string, images: Images, index: number, unit: number): HTMLElement {
  const fig = document.createElement('figure');
  const c = canvasOf(images, index);
  c.setAttribute('role', 'img');
  c.setAttribute('aria-label', caption);
  c.style.setProperty('--aspect', String(images.width / images.height));
  c.dataset.scale = String(images.width / unit);
  const cap = document.createElement('figcaption');
  cap.textContent = caption;
  fig.append(c, cap);
  return fig;
}

function emptyNote(): HTMLElement {
  const p = document.createElement('p');
  p.className = 'muted empty';
  p.textContent = 'Nothing yet.';
  return p;
}
