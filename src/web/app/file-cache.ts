// Fetching the big files (model weights, onnxruntime-web's wasm) once: each is kept in the browser's
// Cache API under its versioned URL (the server puts a hash of the contents in `?v=`), so a later visit
// reads it from disk, and a changed file — a new URL — is fetched again and replaces the old copy.
// Every byte is counted as it arrives or is read back, for the page's progress bar.
import type { FileRef } from './protocol.ts';

/** Bumped when what is stored changes shape; older caches are deleted on open. */
const CACHE_NAME = 'unmask-files-v1';

export interface Counter {
  /** `bytes` more of a file arrived from the network (`cached` false) or the browser's cache. */
  (bytes: number, cached: boolean): void;
}

export class FileCache {
  private constructor(
    private cache: Cache | null,
    /** Why files are not kept, when they are not. */
    readonly note: string | null,
  ) {}

  /** The cache, or a pass-through where the page can't keep files (not a secure context, storage off). */
  static async open(): Promise<FileCache> {
    if (typeof caches === 'undefined') return new FileCache(null, 'files are not kept between visits: the page is not a secure context (open it at http://localhost or over https)');
    try {
      for (const name of await caches.keys()) if (name.startsWith('unmask-files-') && name !== CACHE_NAME) await caches.delete(name);
      return new FileCache(await caches.open(CACHE_NAME), null);
    } catch (e) {
      return new FileCache(null, `files are not kept between visits: the browser refused its cache (${e instanceof Error ? e.message : String(e)})`);
    }
  }

  /** The file's bytes, from the cache when it holds this version, else from the server (then kept). */
  async get(ref: FileRef, count: Counter): Promise<Uint8Array> {
    const hit = await this.cache?.match(ref.url).catch(() => undefined);
    if (hit) return readAll(hit, ref, (n) => count(n, true));
    const r = await fetch(ref.url);
    if (!r.ok) throw new Error(`${new URL(ref.url, location.href).pathname}: the server answered ${r.status} — is unmask serve still running?`);
    const bytes = await readAll(r, ref, (n) => count(n, false));
    await this.keep(ref, bytes);
    return bytes;
  }

  /** Stores `bytes` under the versioned URL and drops other versions of the same file. */
  private async keep(ref: FileRef, bytes: Uint8Array): Promise<void> {
    if (!this.cache) return;
    const path = new URL(ref.url, location.href).pathname;
    try {
      await this.cache.put(ref.url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'Content-Length': String(bytes.length) } }));
      for (const old of await this.cache.keys()) if (new URL(old.url).pathname === path && old.url !== new URL(ref.url, location.href).href) await this.cache.delete(old);
    } catch {
      // Out of quota: this file is fetched again next time; nothing else changes.
    }
  }
}

/** A response's body, read chunk by chunk into one buffer of the expected size (grown if the file is larger). */
async function readAll(r: Response, ref: FileRef, count: (n: number) => void): Promise<Uint8Array> {
  let out = new Uint8Array(ref.bytes);
  let at = 0;
  const reader = r.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > out.length) {
      const bigger = new Uint8Array(Math.max(out.length * 2, at + value.length));
      bigger.set(out.subarray(0, at));
      out = bigger;
    }
    out.set(value, at);
    at += value.length;
    count(value.length);
  }
  return at === out.length ? out : out.slice(0, at);
}
