// Sending files for `unmask serve`: each with a version (a hash of its contents), compressed once — on
// the first request for it — and kept (brotli or gzip, whichever the browser takes, in memory and for
// large files on disk), and with caching headers that let a browser keep what cannot change.
//
// A URL that names a file's current version (`?v=<version>`, as /api/models hands them out) is cached
// for a year as immutable; any other URL is revalidated (`no-cache` with an ETag). Text and wasm are
// worth compressing (onnxruntime-web's 14 MB wasm goes out as 2.7 MB of brotli); float16 weights are
// not (gzip saves 8% of the emoji model at ~25 ms per MB), so safetensors go out as they are.
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';

export const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.png': 'image/png',
};

const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.map', '.json', '.md', '.wasm']);
/** Smaller files are not worth a Content-Encoding. */
const MIN_COMPRESS_BYTES = 1024;
/** Compressed copies at least this large are also kept on disk, so a restarted server has them at once. */
const MIN_DISK_BYTES = 256 * 1024;
const IMMUTABLE = 'public, max-age=31536000, immutable';

type Encoding = 'br' | 'gzip';
const ENCODINGS: { name: Encoding; ext: string; compress: (b: Buffer) => Promise<Buffer> }[] = [
  // Quality 9: 14.2 → 2.7 MB for the wasm in ~1.5 s, once; 11 saves little more and takes many times longer.
  { name: 'br', ext: 'br', compress: (b) => promisify(brotliCompress)(b, { params: { [zlib.BROTLI_PARAM_QUALITY]: 9, [zlib.BROTLI_PARAM_SIZE_HINT]: b.length } }) },
  { name: 'gzip', ext: 'gz', compress: (b) => promisify(gzip)(b, { level: 9 }) },
];

interface FileState {
  key: string;
  version: Promise<string>;
  compressed?: Promise<Map<Encoding, Buffer>>;
}

/** Versions and compressed copies of the files a server sends, each made once per file content. */
export class StaticFiles {
  private files = new Map<string, FileState>();

  /** `cacheDir`: where large compressed copies are kept between runs; memory only when null or not writable. */
  constructor(private cacheDir: string | null) {}

  /** The file's version: the first 16 hex digits of its SHA-256, recomputed when its size or time changes. */
  version(path: string): Promise<string> {
    return this.state(path).version;
  }

  /**
   * Sends `path` (GET or HEAD): compressed when the client accepts it and the type is worth it; immutable
   * when the URL's `v` names the current version; 304 when the client's ETag matches.
   */
  async send(req: IncomingMessage, res: ServerResponse, path: string, o: { headers: Record<string, string>; cache?: string }): Promise<void> {
    const version = await this.version(path);
    const asked = new URL(req.url ?? '/', 'http://x').searchParams.get('v');
    const cache = o.cache ?? (asked === version ? IMMUTABLE : 'no-cache');
    const encoding = COMPRESSIBLE.has(extname(path)) ? acceptedEncoding(req) : null;
    const copies = encoding ? await this.compressed(path) : null;
    const body = encoding && copies?.get(encoding);
    const etag = `"${version}${body ? `-${encoding}` : ''}"`;
    const headers: Record<string, string | number> = {
      ...o.headers,
      'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream',
      'Cache-Control': cache,
      ETag: etag,
      ...(copies ? { Vary: 'Accept-Encoding' } : {}),
    };
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304, headers).end();
    if (body) {
      res.writeHead(200, { ...headers, 'Content-Encoding': encoding!, 'Content-Length': body.length });
      return void res.end(req.method === 'HEAD' ? undefined : body);
    }
    const size = statSync(path).size;
    res.writeHead(200, { ...headers, 'Content-Length': size });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(path).on('error', () => res.destroy()).pipe(res);
  }

  private state(path: string): FileState {
    const st = statSync(path);
    const key = `${st.size}:${st.mtimeMs}`;
    let s = this.files.get(path);
    if (s?.key !== key) {
      s = { key, version: hashFile(path) };
      this.files.set(path, s);
    }
    return s;
  }

  /** The compressed copies of `path`, or an empty map when compressing doesn't pay. */
  private compressed(path: string): Promise<Map<Encoding, Buffer>> {
    const s = this.state(path);
    s.compressed ??= s.version.then((version) => this.compress(path, version));
    return s.compressed;
  }

  private async compress(path: string, version: string): Promise<Map<Encoding, Buffer>> {
    const out = new Map<Encoding, Buffer>();
    if (!COMPRESSIBLE.has(extname(path))) return out;
    const raw = readFileSync(path);
    if (raw.length < MIN_COMPRESS_BYTES) return out;
    for (const e of ENCODINGS) {
      const disk = this.cacheDir && raw.length >= MIN_DISK_BYTES ? join(this.cacheDir, `${version}.${e.ext}`) : null;
      const kept = disk ? readIfPresent(disk) : null;
      const body = kept ?? (await e.compress(raw));
      if (disk && !kept) writeQuietly(disk, body);
      if (body.length < raw.length * 0.9) out.set(e.name, body);
    }
    return out;
  }
}

function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex').slice(0, 16)))
      .on('error', reject);
  });
}

/** The best encoding the request's Accept-Encoding allows (q=0 refuses one). */
function acceptedEncoding(req: IncomingMessage): Encoding | null {
  const accepted = new Set(
    String(req.headers['accept-encoding'] ?? '')
      .split(',')
      .map((p) => p.trim().split(';'))
      .filter(([, q]) => !q || Number(q.split('=')[1]) > 0)
      .map(([name]) => name.trim().toLowerCase()),
  );
  return ENCODINGS.find((e) => accepted.has(e.name))?.name ?? null;
}

function readIfPresent(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}

/** Keeps a compressed copy if the cache folder is writable (write-then-rename); a server without one still works. */
function writeQuietly(path: string, data: Buffer): void {
  try {
    mkdirSync(join(path, '..'), { recursive: true });
    const tmp = `${path}.${process.pid}.partial`;
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch {
    // A read-only install: the copy stays in memory for this run.
  }
}
