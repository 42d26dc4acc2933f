// How much a job may take on this machine (Node only): memory (80% of RAM, or of the cgroup limit when
// lower) and the pixels of one input image. Jobs estimate their needs from their sizes before they
// start and are refused here, naming the limit and how to raise it, instead of failing an hour in.
import { totalmem } from 'node:os';
import { UnmaskError } from '../errors.ts';
import { formatBytes } from './fs-errors.ts';

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** "32GB", "512 MiB", "1000000" → bytes; null if it is not that. */
export function parseBytes(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i.exec(text.trim());
  if (!m) return null;
  const v = Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()];
  return Number.isFinite(v) && v > 0 ? v : null;
}

export interface Limit {
  value: number;
  /** Where it came from, for messages: "80% of this machine's 25.3 GB". */
  source: string;
}

/** The memory a job may use: UNMASK_MAX_MEMORY, or 80% of the RAM (or cgroup limit) this process may use. */
export function memoryLimit(): Limit {
  const env = process.env.UNMASK_MAX_MEMORY;
  if (env !== undefined) {
    const v = parseBytes(env);
    if (v === null) throw new UnmaskError(`UNMASK_MAX_MEMORY='${env}' is not an amount of memory`, 'set it like UNMASK_MAX_MEMORY=32GB, or unset it');
    return { value: v, source: 'set by UNMASK_MAX_MEMORY' };
  }
  const constrained = process.constrainedMemory?.() ?? 0;
  const ram = constrained > 0 && constrained < totalmem() ? constrained : totalmem();
  return { value: 0.8 * ram, source: `80% of the ${formatBytes(ram)} this machine has` };
}

/** The most pixels one input image may have: UNMASK_MAX_PIXELS, or 100 megapixels. */
export function pixelLimit(): Limit {
  const env = process.env.UNMASK_MAX_PIXELS;
  if (env !== undefined) {
    const v = /^\d+$/.test(env) ? Number(env) : Number.NaN;
    if (!(v > 0)) throw new UnmaskError(`UNMASK_MAX_PIXELS='${env}' is not a whole number of pixels`, 'set it like UNMASK_MAX_PIXELS=400000000, or unset it');
    return { value: v, source: 'set by UNMASK_MAX_PIXELS' };
  }
  return { value: 100e6, source: 'the default' };
}

/**
 * Refuses a job whose estimate exceeds the memory limit: `job` says what ("extend to 2048×2048"),
 * `smaller` how to ask for less ("choose a --size of at most 880x880"), or makes that text from the limit.
 */
export function checkMemory(bytes: number, job: string, smaller: string | ((limit: number) => string)): void {
  const limit = memoryLimit();
  if (bytes <= limit.value) return;
  throw new UnmaskError(
    `${job} needs about ${formatBytes(bytes)} of memory, more than the ${formatBytes(limit.value)} allowed (${limit.source})`,
    `${typeof smaller === 'string' ? smaller : smaller(limit.value)}, or raise the limit with UNMASK_MAX_MEMORY=${formatBytes(bytes * 1.25).replace(' ', '')} if the machine has that much`,
  );
}
