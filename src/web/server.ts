// The local server behind `unmask serve`: it sends the built app, the files of the listed models and
// onnxruntime-web's own scripts and wasm, and (with --out) saves PNGs the app posts. It runs no model;
// generation happens in the page.
//
// Every path is matched against fixed routes and whitelisted file names held in Maps (so `constructor`
// or `__proto__` name nothing), never joined onto a folder unchecked: a '..' segment is refused with
// 403, a file that is a link out of its folder 403, anything unlisted 404, a known route with the wrong
// method 405. Every request must name an allowed host in Host (loopback names, and the names the server
// was started with), so a web page can't reach it through DNS rebinding; posts must come from the app's
// own origin. Slow clients are cut off: headers and bodies have time limits.
import { linkSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { createRequire } from 'node:module';
import { basename, dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { ModelFilePaths } from '../inference/model-dir.ts';
import { StaticFiles } from './static-files.ts';

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

/**
 * onnxruntime-web's two builds the app chooses between: wasm only (14 MB of wasm), and WebGPU + wasm
 * (28 MB), loaded only where the browser offers a WebGPU adapter.
 */
const ORT_BUILDS = {
  wasm: { module: 'ort.wasm.bundle.min.mjs', binary: 'ort-wasm-simd-threaded.wasm' },
  webgpu: { module: 'ort.bundle.min.mjs', binary: 'ort-wasm-simd-threaded.jsep.wasm' },
} as const;
const ORT_FILES = new Set(Object.values(ORT_BUILDS).flatMap((b) => [b.module, `${b.module}.map`, b.binary]));
const ORT_DIR = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm'));
const ORT_VERSION = (JSON.parse(readFileSync(join(ORT_DIR, '..', 'package.json'), 'utf8')) as { version: string }).version;

/**
 * Where compressed copies of large static files are kept between runs (created on first use): the
 * node_modules/.cache of the checkout, or of the project unmask is installed in.
 */
const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const COMPRESSED_CACHE = join(basename(dirname(PACKAGE_ROOT)) === 'node_modules' ? dirname(PACKAGE_ROOT) : join(PACKAGE_ROOT, 'node_modules'), '.cache', 'unmask-compressed');

/** Largest PNG the app may post to /api/save. */
export const MAX_UPLOAD_BYTES = 32 * 1024 * 1024;
/** Most pixels a saved PNG may have (4096²: 64 MB decoded). */
export const MAX_SAVE_PIXELS = 4096 * 4096;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_END = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

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
  /** Host names (no port) requests may be addressed to besides loopback ones: the names the server was started with. */
  allowedHosts?: string[];
  maxUploadBytes?: number;
  maxSavePixels?: number;
  /** Milliseconds a client may take to send its request headers. */
  headersTimeoutMs?: number;
  /** Milliseconds a request body may stall between two chunks. */
  bodyTimeoutMs?: number;
  /** Where compressed copies of large files are kept between runs; null keeps them in memory only. */
  compressedCacheDir?: string | null;
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
function modelFiles(m: ServedModel): Map<string, string> {
  const p = m.paths;
  const files = new Map([
    ['config.json', p.config],
    [basename(p.weights), p.weights],
    [basename(p.tokenizer), p.tokenizer],
  ]);
  if (p.card) files.set('model-card.md', p.card);
  return files;
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

/** `path` itself when it and every link on its way resolve inside `folder`; a 403 for a link that leads out. */
function inside(folder: string, path: string): string {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new HttpError(404, `${basename(path)} is missing`);
  }
  if (!real.startsWith(realpathSync(folder) + sep)) throw new HttpError(403, `${basename(path)} is a link out of its folder; links are not followed out of the served folders`);
  return path;
}

const sharedFiles = new Map<string | null, StaticFiles>();

/** One StaticFiles per cache folder and process, so servers in one process hash and compress each file once. */
function staticFiles(cacheDir: string | null): StaticFiles {
  let f = sharedFiles.get(cacheDir);
  if (!f) sharedFiles.set(cacheDir, (f = new StaticFiles(cacheDir)));
  return f;
}

const LOOPBACK_NAME = /^(localhost|127\.\d+\.\d+\.\d+|::1)$/i;

/** The host name a Host header gives, without port or IPv6 brackets, lower case. */
function hostName(header: string): string {
  const m = /^\[([^\]]*)\](:\d+)?$/.exec(header) ?? /^([^:]*)(:\d+)?$/.exec(header);
  return (m?.[1] ?? '').toLowerCase();
}

export function createAppServer(o: AppServerOptions): Server {
  const maxUpload = o.maxUploadBytes ?? MAX_UPLOAD_BYTES;
  const maxPixels = o.maxSavePixels ?? MAX_SAVE_PIXELS;
  const bodyTimeout = o.bodyTimeoutMs ?? 15_000;
  const headersTimeout = o.headersTimeoutMs ?? 15_000;
  const allowed = new Set((o.allowedHosts ?? []).map((h) => h.toLowerCase()));
  const byName = new Map(o.models.map((m) => [m.name, m]));
  const files = staticFiles(o.compressedCacheDir === undefined ? COMPRESSED_CACHE : o.compressedCacheDir);

  const allowedHost = (header: string | undefined): boolean => {
    const name = hostName(header ?? '');
    return LOOPBACK_NAME.test(name) || allowed.has(name);
  };

  /** The file a GET of `seg` sends, with its Cache-Control when fixed, or null if the path names none. */
  const staticFile = (seg: string[]): { path: string; cache?: string } | null => {
    const key = seg.join('/');
    if (key === '' || key === 'index.html') return { path: inside(o.appDir, join(o.appDir, 'index.html')), cache: 'no-cache' };
    if (seg[0] === 'assets' && seg.length === 2) {
      // Asset names carry a hash of their contents, so a name never changes content.
      return { path: inside(o.appDir, join(o.appDir, 'assets', seg[1])), cache: 'public, max-age=31536000, immutable' };
    }
    if (seg[0] === 'ort' && seg.length === 2 && ORT_FILES.has(seg[1])) return { path: inside(ORT_DIR, join(ORT_DIR, seg[1])) };
    if (seg[0] === 'models' && seg.length === 3) {
      const model = byName.get(seg[1]);
      const path = model && modelFiles(model).get(seg[2]);
      return path ? { path: inside(dirname(model.paths.config), path) } : null;
    }
    return null;
  };

  /** A file's URL with its version, and its size. */
  const fileRef = async (urlPath: string, path: string): Promise<{ url: string; bytes: number }> => ({ url: `${urlPath}?v=${await files.version(path)}`, bytes: statSync(path).size });

  const describeModel = async (m: ServedModel) => {
    const url = (file: string) => `/models/${encodeURIComponent(m.name)}/${file}`;
    const p = m.paths;
    const folder = dirname(p.config);
    try {
      const parts = {
        config: await fileRef(url('config.json'), inside(folder, p.config)),
        weights: await fileRef(url(basename(p.weights)), inside(folder, p.weights)),
        tokenizer: await fileRef(url(basename(p.tokenizer)), inside(folder, p.tokenizer)),
        // The card is optional: one that can't be sent (a link out of the folder) is left out.
        card: p.card ? await (async () => fileRef(url('model-card.md'), inside(folder, p.card!)))().catch(() => null) : null,
      };
      return { name: m.name, summary: m.summary, bytes: parts.config.bytes + parts.weights.bytes + parts.tokenizer.bytes, files: parts };
    } catch (e) {
      // One broken model must not hide the others: it is listed with its problem instead.
      return { name: m.name, summary: m.summary, problem: `its files can't be sent (${e instanceof Error ? e.message : String(e)}) — export or copy the model again` };
    }
  };

  const manifest = async () => ({
    save: !!o.outDir,
    runtime: {
      version: ORT_VERSION,
      ...Object.fromEntries(
        await Promise.all(
          Object.entries(ORT_BUILDS).map(async ([kind, b]) => [kind, { module: await fileRef(`/ort/${b.module}`, join(ORT_DIR, b.module)), binary: await fileRef(`/ort/${b.binary}`, join(ORT_DIR, b.binary)) }]),
        ),
      ),
    },
    models: await Promise.all(o.models.map(describeModel)),
  });

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!allowedHost(req.headers.host)) throw new HttpError(403, `host '${req.headers.host ?? ''}' is not a name this server was started with; open the app at the address unmask serve printed`);
    const seg = pathSegments(req.url ?? '/');
    const key = seg.join('/');
    if (key === 'api/save') {
      allow(req, ['POST']);
      return save(req, res);
    }
    if (key === 'api/models') {
      allow(req, ['GET', 'HEAD']);
      return sendJson(req, res, 200, await manifest());
    }
    const file = staticFile(seg);
    if (!file) throw new HttpError(404, `nothing at /${key}`);
    allow(req, ['GET', 'HEAD']);
    await files.send(req, res, file.path, { headers: HEADERS, cache: file.cache });
  };

  const save = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!o.outDir) throw new HttpError(404, 'saving is off — start unmask serve with --out DIR');
    const origin = req.headers.origin;
    if (origin !== `http://${req.headers.host}`) throw new HttpError(403, `posts must come from the app's page (Origin http://${req.headers.host}), not ${origin ?? 'an unnamed origin'}`);
    if ((req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() !== 'image/png') throw new HttpError(415, 'send the image as Content-Type: image/png');
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > maxUpload) throw new HttpError(413, `uploads are limited to ${maxUpload} bytes`);
    const body = await readBody(req, maxUpload, bodyTimeout);
    await checkPng(body, maxPixels);
    const name = new URL(req.url ?? '/', 'http://x').searchParams.get('name') ?? 'unmask.png';
    const path = writeNew(o.outDir, name, body);
    sendJson(req, res, 201, { path });
  };

  const server = createServer({ headersTimeout: headersTimeout, requestTimeout: 300_000, connectionsCheckingInterval: Math.min(1000, headersTimeout / 2) }, (req, res) => {
    route(req, res).catch((e: unknown) => {
      const err = e instanceof HttpError ? e : new HttpError(500, e instanceof Error ? e.message : String(e));
      if (res.headersSent) return void res.destroy();
      // A request refused before its body was read is not read further; the connection closes after the answer.
      if (!req.complete) res.setHeader('Connection', 'close');
      for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      sendJson(req, res, err.status, { error: err.message });
    });
  });
  return server;
}

function allow(req: IncomingMessage, methods: string[]): void {
  if (!methods.includes(req.method ?? '')) throw new HttpError(405, `use ${methods.join(' or ')} here`, { Allow: methods.join(', ') });
}

function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : text);
}

/** The request body: 413 as soon as it passes `limit` bytes, 408 when it stalls for `idleMs`. */
function readBody(req: IncomingMessage, limit: number, idleMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (e: HttpError) => {
      clearTimeout(timer);
      req.pause();
      reject(e);
    };
    const stalled = () => fail(new HttpError(408, `the upload stalled for ${idleMs / 1000} s; send the whole body at once`));
    let timer = setTimeout(stalled, idleMs);
    req.on('data', (c: Buffer) => {
      clearTimeout(timer);
      timer = setTimeout(stalled, idleMs);
      size += c.length;
      if (size > limit) fail(new HttpError(413, `uploads are limited to ${limit} bytes`));
      else chunks.push(c);
    });
    req.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => fail(new HttpError(400, e.message)));
  });
}

/** A whole PNG: signature, every row decodable, the end chunk last, and at most `maxPixels` pixels. */
async function checkPng(body: Buffer, maxPixels: number): Promise<void> {
  const notPng = (why: string) => new HttpError(400, `the body is not a whole PNG (${why})`);
  if (!body.subarray(0, 8).equals(PNG_SIGNATURE)) throw notPng('no PNG signature');
  const meta = await sharp(body).metadata().catch((e: Error) => {
    throw notPng(e.message.trim());
  });
  if (meta.format !== 'png') throw notPng(`it reads as ${meta.format}`);
  const pixels = (meta.width ?? 0) * (meta.height ?? 0);
  if (pixels > maxPixels) throw new HttpError(413, `images are limited to ${maxPixels} pixels; this one is ${meta.width}×${meta.height}`);
  await sharp(body, { failOn: 'truncated', limitInputPixels: maxPixels })
    .stats()
    .catch((e: Error) => {
      throw notPng(e.message.trim());
    });
  if (!body.subarray(body.length - PNG_END.length).equals(PNG_END)) throw notPng('it does not end with IEND');
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
