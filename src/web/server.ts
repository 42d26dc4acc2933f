// The local server behind `unmask serve`: it sends the built app, the files of the listed models and
// onnxruntime-web's own script and wasm, and (with --out) saves PNGs the app posts. It runs no model;
// generation happens in the page.
//
// Every path is matched against fixed routes and whitelisted file names, never joined onto a folder
// unchecked: a '..' segment is refused with 403, anything unlisted is 404, a known route with the
// wrong method 405. Bound to loopback (the default) it also refuses requests whose Host is not a
// loopback name, so a web page can't reach it through DNS rebinding, and it refuses cross-origin posts.
import { createReadStream, existsSync, linkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { createRequire } from 'node:module';
import { basename, dirname, extname, join } from 'node:path';
import type { ModelFilePaths } from '../inference/model-dir.ts';

/** What the app's page and every script it runs may load: only this server, no internet. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  // onnxruntime-web compiles its wasm, and its WebGPU bindings build a few functions at run time.
  "script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval'",
  "worker-src 'self' blob:",
  "img-src 'self' data: blob:",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const HEADERS = {
  // Cross-origin isolation gives the page SharedArrayBuffer, which onnxruntime-web's wasm threads need.
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

const TYPES: Record<string, string> = {
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

/** onnxruntime-web's files that the app loads: the WebGPU + wasm bundle and its wasm. */
const ORT_FILES = new Set(['ort.bundle.min.mjs', 'ort.bundle.min.mjs.map', 'ort-wasm-simd-threaded.jsep.wasm']);
const ORT_DIR = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm'));

/** Largest PNG the app may post to /api/save. */
export const MAX_UPLOAD_BYTES = 8 * 1024 * 1024;
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export interface ServedModel {
  name: string;
  summary: string;
  paths: ModelFilePaths;
}

export interface AppServerOptions {
  /** The built app (index.html, assets/). */
  appDir: string;
  models: ServedModel[];
  /** Where POST /api/save writes; saving is off without it. */
  outDir?: string;
  /** Whether the server listens on a loopback address only (then Host must name loopback). */
  loopback: boolean;
  maxUploadBytes?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The model files a client may fetch, by URL file name. */
function modelFiles(m: ServedModel): Record<string, string> {
  const p = m.paths;
  return {
    'config.json': p.config,
    [basename(p.weights)]: p.weights,
    [basename(p.tokenizer)]: p.tokenizer,
    ...(p.card ? { 'model-card.md': p.card } : {}),
  };
}

function modelList(o: AppServerOptions) {
  return {
    save: !!o.outDir,
    models: o.models.map((m) => {
      const url = (file: string) => `/models/${encodeURIComponent(m.name)}/${file}`;
      const p = m.paths;
      return {
        name: m.name,
        summary: m.summary,
        bytes: [p.config, p.weights, p.tokenizer].reduce((n, f) => n + statSync(f).size, 0),
        files: { config: url('config.json'), weights: url(basename(p.weights)), tokenizer: url(basename(p.tokenizer)), card: p.card ? url('model-card.md') : null },
      };
    }),
  };
}

/** The request path as decoded segments; '..' anywhere is refused rather than resolved. */
function pathSegments(rawUrl: string): string[] {
  const path = rawUrl.split('?')[0];
  if (!path.startsWith('/')) throw new HttpError(400, 'the request path must start with /');
  let segments: string[];
  try {
    segments = path.slice(1).split('/').map(decodeURIComponent);
  } catch {
    throw new HttpError(400, 'the request path is not valid percent-encoding');
  }
  if (segments.some((s) => s === '..' || s === '.' || /[\\/\0]/.test(s))) throw new HttpError(403, 'paths outside the served folders are refused');
  return segments;
}

const LOOPBACK_HOST = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/i;

export function createAppServer(o: AppServerOptions): Server {
  const maxUpload = o.maxUploadBytes ?? MAX_UPLOAD_BYTES;
  const byName = new Map(o.models.map((m) => [m.name, m]));

  /** The file a GET of `seg` sends, with its Cache-Control, or null if the path names none. */
  const staticFile = (seg: string[]): { path: string; cache: string } | null => {
    const key = seg.join('/');
    if (key === '' || key === 'index.html') return { path: join(o.appDir, 'index.html'), cache: 'no-cache' };
    if (seg[0] === 'assets' && seg.length === 2) {
      const path = join(o.appDir, 'assets', seg[1]);
      // Asset names carry a hash of their contents, so a name never changes content.
      return existsSync(path) ? { path, cache: 'public, max-age=31536000, immutable' } : null;
    }
    if (seg[0] === 'ort' && seg.length === 2 && ORT_FILES.has(seg[1])) return { path: join(ORT_DIR, seg[1]), cache: 'no-cache' };
    if (seg[0] === 'models' && seg.length === 3) {
      const model = byName.get(seg[1]);
      const path = model ? modelFiles(model)[seg[2]] : undefined;
      return path ? { path, cache: 'no-cache' } : null;
    }
    return null;
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (o.loopback && !LOOPBACK_HOST.test(req.headers.host ?? '')) throw new HttpError(403, `host '${req.headers.host}' is not this machine; open the app at http://localhost`);
    const seg = pathSegments(req.url ?? '/');
    const key = seg.join('/');
    if (key === 'api/save') {
      allow(req, ['POST']);
      return save(req, res);
    }
    if (key === 'api/models') {
      allow(req, ['GET', 'HEAD']);
      return sendJson(req, res, 200, modelList(o));
    }
    const file = staticFile(seg);
    if (!file) throw new HttpError(404, `nothing at /${key}`);
    allow(req, ['GET', 'HEAD']);
    sendFile(req, res, file.path, file.cache);
  };

  const save = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!o.outDir) throw new HttpError(404, 'saving is off — start unmask serve with --out DIR');
    const origin = req.headers.origin;
    if (origin && origin !== `http://${req.headers.host}`) throw new HttpError(403, `posts from ${origin} are refused`);
    if ((req.headers['content-type'] ?? '').split(';')[0].trim() !== 'image/png') throw new HttpError(415, 'send the image as Content-Type: image/png');
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > maxUpload) throw new HttpError(413, `uploads are limited to ${maxUpload} bytes`);
    const body = await readBody(req, maxUpload);
    if (body.length < PNG_SIGNATURE.length || PNG_SIGNATURE.some((b, i) => body[i] !== b)) throw new HttpError(400, 'the body is not a PNG');
    const name = new URL(req.url ?? '/', 'http://x').searchParams.get('name') ?? 'unmask.png';
    const path = writeNew(o.outDir, name, body);
    sendJson(req, res, 201, { path });
  };

  return createServer((req, res) => {
    route(req, res).catch((e: unknown) => {
        const err = e instanceof HttpError ? e : new HttpError(500, e instanceof Error ? e.message : String(e));
        if (res.headersSent) return void res.destroy();
        // An upload refused part-way is not read further; the connection closes after the answer.
        if (err.status === 413) res.setHeader('Connection', 'close');
        for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
        sendJson(req, res, err.status, { error: err.message });
      });
  });
}

function allow(req: IncomingMessage, methods: string[]): void {
  if (!methods.includes(req.method ?? '')) throw new HttpError(405, `use ${methods.join(' or ')} here`, { Allow: methods.join(', ') });
}

function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...HEADERS, 'Content-Type': TYPES['.json'], 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : text);
}

/** Sends a file with an ETag from its size and modification time (a 304 when the client has it). */
function sendFile(req: IncomingMessage, res: ServerResponse, path: string, cache: string): void {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st?.isFile()) throw new HttpError(404, `${basename(path)} is missing`);
  const etag = `"${st.size.toString(36)}-${Math.floor(st.mtimeMs).toString(36)}"`;
  const headers = { ...HEADERS, 'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream', 'Cache-Control': cache, ETag: etag };
  if (req.headers['if-none-match'] === etag) return void res.writeHead(304, headers).end();
  res.writeHead(200, { ...headers, 'Content-Length': st.size });
  if (req.method === 'HEAD') return void res.end();
  createReadStream(path).on('error', () => res.destroy()).pipe(res);
}

/** The request body, refused with 413 as soon as it passes `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.pause();
        reject(new HttpError(413, `uploads are limited to ${limit} bytes`));
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * Writes `data` into `dir` under a cleaned-up `name` that is not taken yet (name-2.png, …), atomically:
 * a complete temporary file linked into place, so a reader never sees half a PNG.
 */
function writeNew(dir: string, name: string, data: Buffer): string {
  const stem = basename(name).replace(/\.png$/i, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '').slice(0, 100) || 'unmask';
  const tmp = join(dir, `.${stem}.${process.pid}.${Date.now()}.partial`);
  writeFileSync(tmp, data);
  try {
    // link() fails rather than replace a file, so two saves of one name both survive.
    for (let i = 1; ; i++) {
      const path = join(dir, i === 1 ? `${stem}.png` : `${stem}-${i}.png`);
      try {
        linkSync(tmp, path);
        return path;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
  } finally {
    rmSync(tmp, { force: true });
  }
}
