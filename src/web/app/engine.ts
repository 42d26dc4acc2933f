// The page's side of one model worker: requests as promises, replies matched by id. One Engine per
// backend choice; the page keeps the working one until a new one has loaded, so a backend that fails
// leaves the model that worked in place.
import type { Images } from '../../data/images.ts';
import type { Precision } from '../../engine/quantize.ts';
import type { Backend, Manifest, ModelEntry, ModelInfo, Reply, Request, RunTimes, SampleSettings, Task } from './protocol.ts';

export class Cancelled extends Error {}

export interface LoadProgress {
  what: string;
  loaded: number;
  total: number;
  cached: number;
}

export interface StepProgress {
  step: number;
  steps: number;
  elapsed: number;
  images?: Images;
}

export interface RunResult {
  images: Images;
  seconds: number;
  times: RunTimes;
}

interface Pending {
  resolve(value: unknown): void;
  reject(e: Error): void;
  onProgress?(reply: Reply): void;
}

export class Engine {
  private worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private running: number | null = null;

  constructor(
    readonly backend: Backend,
    private manifest: Manifest,
  ) {
    this.worker.addEventListener('message', (e: MessageEvent<Reply>) => this.receive(e.data));
    this.worker.addEventListener('error', (e) => {
      for (const p of this.pending.values()) p.reject(new Error(`the model worker failed: ${e.message}`));
      this.pending.clear();
    });
  }

  load(model: ModelEntry, onProgress: (p: LoadProgress) => void): Promise<ModelInfo> {
    return this.request<ModelInfo>({ type: 'load', id: 0, model, runtime: this.manifest.runtime, backend: this.backend }, (r) => {
      if (r.type === 'progress') onProgress(r);
    });
  }

  async run(task: Task, settings: SampleSettings, onStep: (s: StepProgress) => void): Promise<RunResult> {
    const id = this.nextId;
    this.running = id;
    try {
      return await this.request<RunResult>({ type: 'run', id: 0, task, settings }, (r) => {
        if (r.type === 'step') onStep(r);
      });
    } finally {
      this.running = null;
    }
  }

  /** Builds the sessions a run of `n` images will need, in the background (runs queue behind it). */
  warm(n: number, precision: Precision): void {
    this.send({ type: 'warm', id: this.nextId++, n, precision });
  }

  /** Stops the run in progress after its current step; its promise rejects with Cancelled. */
  cancel(): void {
    if (this.running !== null) this.send({ type: 'cancel', id: this.running });
  }

  terminate(): void {
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(new Cancelled('the model worker was stopped'));
    this.pending.clear();
  }

  private request<T>(req: Request, onProgress?: (r: Reply) => void): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress });
      this.send({ ...req, id });
    });
  }

  private send(req: Request): void {
    // Images travel as structured clones; the page keeps its copies (sources stay editable).
    this.worker.postMessage(req);
  }

  private receive(r: Reply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    switch (r.type) {
      case 'progress':
      case 'step':
        return p.onProgress?.(r);
      case 'loaded':
        this.pending.delete(r.id);
        return p.resolve(r.info);
      case 'done':
        this.pending.delete(r.id);
        return p.resolve({ images: r.images, seconds: r.seconds, times: r.times });
      case 'cancelled':
        this.pending.delete(r.id);
        return p.reject(new Cancelled('stopped'));
      case 'error':
        this.pending.delete(r.id);
        return p.reject(new Error(r.message));
    }
  }
}
