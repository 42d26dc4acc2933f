// Progress for long work (training steps, sampling steps), in the form that suits where it goes: a bar
// with ETA on a terminal, plain lines in a log file or CI, and JSON lines for programs (`--json`).
import cliProgress from 'cli-progress';

export interface ProgressOptions {
  /** What is being done, e.g. 'sampling'. */
  task: string;
  /** Units of work in all (steps, images). */
  total: number;
  /** JSON lines on `out` instead of a bar or text on `err`. */
  json?: boolean;
  /** Where JSON lines go; default stdout, with the command's other machine-readable output. */
  out?: NodeJS.WritableStream;
  /** Where the bar or text lines go; default stderr, so stdout stays clean. A TTY gets the bar. */
  err?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Least time between plain text lines; default 1000 ms. */
  intervalMs?: number;
  /** Units already done before this run (a resumed training run), so the ETA counts only new work. */
  initial?: number;
}

export interface Progress {
  /** `done` of the total units are finished; `values` (loss, step size…) are shown alongside. */
  update(done: number, values?: Record<string, number | string>): void;
  /** Ends the display; a bar stays on screen at its last state. */
  stop(): void;
}

export function createProgress(opts: ProgressOptions): Progress {
  if (opts.json) return jsonProgress(opts, opts.out ?? process.stdout);
  const err = opts.err ?? process.stderr;
  return err.isTTY ? barProgress(opts, err) : lineProgress(opts, err);
}

function barProgress(opts: ProgressOptions, stream: NodeJS.WritableStream): Progress {
  const bar = new cliProgress.SingleBar(
    {
      format: '{task} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} {values}',
      stream: stream as NodeJS.WriteStream,
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(opts.total, opts.initial ?? 0, { task: opts.task, values: '' });
  return {
    update: (done, values) => bar.update(done, { values: formatValues(values) }),
    stop: () => bar.stop(),
  };
}

function lineProgress(opts: ProgressOptions, stream: NodeJS.WritableStream): Progress {
  const interval = opts.intervalMs ?? 1000;
  const start = Date.now();
  let last = -Infinity;
  return {
    update(done, values) {
      if (done < opts.total && Date.now() - last < interval) return;
      const pct = opts.total > 0 ? Math.floor((100 * done) / opts.total) : 100;
      const elapsed = (Date.now() - start) / 1000;
      const fresh = done - (opts.initial ?? 0);
    const eta = fresh > 0 && done < opts.total ? ` ETA ${formatSeconds((elapsed / fresh) * (opts.total - done))}` : '';
      stream.write(`${opts.task} ${done}/${opts.total} (${pct}%)${eta} ${formatValues(values)}`.trimEnd() + '\n');
      last = Date.now();
    },
    stop() {},
  };
}

function jsonProgress(opts: ProgressOptions, stream: NodeJS.WritableStream): Progress {
  const start = Date.now();
  return {
    update(done, values) {
      const elapsed_s = (Date.now() - start) / 1000;
      stream.write(JSON.stringify({ event: 'progress', task: opts.task, done, total: opts.total, elapsed_s, ...values }) + '\n');
    },
    stop() {},
  };
}

function formatValues(values?: Record<string, number | string>): string {
  if (!values) return '';
  return Object.entries(values)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? formatNumber(v) : v}`)
    .join('  ');
}

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

/** 75 → "1m15s", 3700 → "1h01m". */
export function formatSeconds(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
