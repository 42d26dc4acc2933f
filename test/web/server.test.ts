// The server behind `unmask serve`, through real HTTP requests: what it sends, and what it refuses
// (paths outside its folders, links out of them, unlisted files, wrong methods, foreign hosts and
// origins, oversized, broken or stalled uploads).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { type ServedModel, createAppServer } from '../../src/web/server.ts';
import { servedModels } from '../../src/cli/serve.ts';
import { MODELS_DIR } from '../../src/inference/model-dir.ts';
import { cli } from '../helpers/cli.ts';
import { startServe } from '../helpers/serve.ts';

const tmp = mkdtempSync(join(tmpdir(), 'unmask-serve-'));
const appDir = join(tmp, 'app');
const outDir = join(tmp, 'out');
const LIMIT = 64 * 1024;
const MAX_PIXELS = 64 * 64;
let PNG: Buffer;
let server: Server;
let noSave: Server;
let slow: Server;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function send(s: Server, path: string, o: { method?: string; headers?: Record<string, string | number>; body?: Buffer } = {}): Promise<Reply> {
  const { port } = s.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: o.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

const json = (r: Reply) => JSON.parse(r.body.toString('utf8'));

/** A copy of the fashion model under `name` in tmp, changed by `edit`. */
function modelCopy(name: string, edit: (dir: string) => void): ServedModel {
  const dir = join(tmp, name);
  cpSync(join(MODELS_DIR, 'fashion'), dir, { recursive: true });
  edit(dir);
  return servedModels([dir])[0];
}

beforeAll(async () => {
  mkdirSync(join(appDir, 'assets'), { recursive: true });
  writeFileSync(join(appDir, 'index.html'), '<!doctype html><title>app</title>');
  writeFileSync(join(appDir, 'assets', 'main-abc123.js'), 'console.log(1)');
  writeFileSync(join(tmp, 'secret.txt'), 'not for the web');
  symlinkSync(join(tmp, 'secret.txt'), join(appDir, 'assets', 'linked.js'));
  mkdirSync(outDir);
  PNG = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#c04080' } }).png().toBuffer();
  const linked = modelCopy('linked', (dir) => {
    unlinkSync(join(dir, 'model-card.md'));
    symlinkSync(join(tmp, 'secret.txt'), join(dir, 'model-card.md'));
  });
  // Whole when served (a damaged model is refused at start), then a file goes missing while it runs.
  const broken = modelCopy('broken', () => {});
  unlinkSync(join(tmp, 'broken', 'params.safetensors'));
  const models = [...servedModels([]), linked, broken];
  server = createAppServer({ appDir, models, outDir, maxUploadBytes: LIMIT, maxSavePixels: MAX_PIXELS });
  noSave = createAppServer({ appDir, models });
  slow = createAppServer({ appDir, models, outDir, headersTimeoutMs: 300, bodyTimeoutMs: 300 });
  await Promise.all([server, noSave, slow].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
});

afterAll(async () => {
  await Promise.all([server, noSave, slow].map((s) => new Promise((r) => s.close(r))));
  rmSync(tmp, { recursive: true, force: true });
});

/** A POST to /api/save as the app's page sends it (its own Origin), with `headers` changed. */
function post(s: Server, body: Buffer, headers: Record<string, string | number> = {}, name = 'result.png'): Promise<Reply> {
  const { port } = s.address() as AddressInfo;
  return send(s, `/api/save?name=${encodeURIComponent(name)}`, { method: 'POST', headers: { 'Content-Type': 'image/png', Origin: `http://127.0.0.1:${port}`, ...headers }, body });
}

/** What the server does with a connection that sends `first` and then nothing: its answer and whether it closed. */
function stall(s: Server, first: string): Promise<{ answer: string; ms: number }> {
  const { port } = s.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    let answer = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(first));
    socket.on('data', (c) => (answer += c.toString()));
    socket.on('close', () => resolve({ answer, ms: Date.now() - t0 }));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => reject(new Error('the server kept a stalled connection open for 10 s')));
  });
}

describe('unmask serve', () => {
  it('sends the app, with cross-origin isolation and a same-origin-only content policy', async () => {
    const r = await send(server, '/');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toContain('<title>app</title>');
    expect(r.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(r.headers['cross-origin-embedder-policy']).toBe('require-corp');
    expect(r.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(r.headers['cache-control']).toBe('no-cache');
    const asset = await send(server, '/assets/main-abc123.js');
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toMatch(/^text\/javascript/);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const again = await send(server, '/assets/main-abc123.js', { headers: { 'If-None-Match': String(asset.headers.etag) } });
    expect(again.status).toBe(304);
  });

  it('lists the models with versioned file URLs and sends exactly their files, byte for byte', async () => {
    const list = json(await send(server, '/api/models'));
    expect(list.save).toBe(true);
    const fashion = list.models.find((m: { name: string }) => m.name === 'fashion');
    const v = (file: string) => expect.stringMatching(new RegExp(`^/models/fashion/${file.replace('.', '\\.')}\\?v=[0-9a-f]{16}$`));
    expect(fashion.files).toEqual({
      config: { url: v('config.json'), bytes: readFileSync(join(MODELS_DIR, 'fashion', 'config.json')).length },
      weights: { url: v('params.safetensors'), bytes: readFileSync(join(MODELS_DIR, 'fashion', 'params.safetensors')).length },
      tokenizer: { url: v('tokenizer.safetensors'), bytes: readFileSync(join(MODELS_DIR, 'fashion', 'tokenizer.safetensors')).length },
      card: { url: v('model-card.md'), bytes: readFileSync(join(MODELS_DIR, 'fashion', 'model-card.md')).length },
    });
    expect(fashion.bytes).toBe(fashion.files.config.bytes + fashion.files.weights.bytes + fashion.files.tokenizer.bytes);
    const weights = await send(server, fashion.files.weights.url);
    expect(weights.status).toBe(200);
    expect(weights.body.equals(readFileSync(join(MODELS_DIR, 'fashion', 'params.safetensors')))).toBe(true);
    // The URL names the file's current version, so the browser may keep it; the bare path is revalidated.
    expect(weights.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await send(server, '/models/fashion/params.safetensors')).headers['cache-control']).toBe('no-cache');
    expect((await send(server, '/models/fashion/params.safetensors?v=0000000000000000')).headers['cache-control']).toBe('no-cache');
    const head = await send(server, fashion.files.config.url, { method: 'HEAD' });
    expect([head.status, head.body.length, Number(head.headers['content-length'])]).toEqual([200, 0, fashion.files.config.bytes]);
  });

  it('lists a model whose weights are missing with its problem, and the others as usual', async () => {
    const r = await send(server, '/api/models');
    expect(r.status).toBe(200);
    const list = json(r);
    const broken = list.models.find((m: { name: string }) => m.name === 'broken');
    expect(broken.files).toBeUndefined();
    expect(broken.problem).toMatch(/^its files can't be sent \(.*params\.safetensors.*\) — export or copy the model again$/);
    expect(list.models.filter((m: { files?: unknown }) => m.files).map((m: { name: string }) => m.name).sort()).toEqual(['emoji', 'fashion', 'fashion-classes', 'linked']);
  });

  it("sends onnxruntime-web's builds compressed, and nothing else from the package", async () => {
    const { runtime } = json(await send(server, '/api/models'));
    expect(Object.keys(runtime).sort()).toEqual(['version', 'wasm', 'webgpu']);
    const wasmUrl: string = runtime.wasm.binary.url;
    expect(wasmUrl).toMatch(/^\/ort\/ort-wasm-simd-threaded\.wasm\?v=[0-9a-f]{16}$/);
    const raw = readFileSync(join(MODELS_DIR, '..', 'node_modules', 'onnxruntime-web', 'dist', 'ort-wasm-simd-threaded.wasm'));
    expect(runtime.wasm.binary.bytes).toBe(raw.length);
    const br = await send(server, wasmUrl, { headers: { 'Accept-Encoding': 'gzip, deflate, br' } });
    expect([br.status, br.headers['content-type'], br.headers['content-encoding'], br.headers.vary]).toEqual([200, 'application/wasm', 'br', 'Accept-Encoding']);
    expect(br.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(br.body.length).toBeLessThan(raw.length / 3);
    expect(brotliDecompressSync(br.body).equals(raw)).toBe(true);
    const gz = await send(server, wasmUrl, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).equals(raw)).toBe(true);
    expect(gz.headers.etag).not.toBe(br.headers.etag);
    const plain = await send(server, wasmUrl, { headers: { 'Accept-Encoding': 'identity' } });
    expect([plain.headers['content-encoding'], plain.body.equals(raw)]).toEqual([undefined, true]);
    for (const build of [runtime.wasm, runtime.webgpu]) {
      const head = await send(server, build.module.url, { method: 'HEAD', headers: { 'Accept-Encoding': 'identity' } });
      expect([head.status, Number(head.headers['content-length'])]).toEqual([200, build.module.bytes]);
    }
    expect((await send(server, '/ort/ort.node.min.js')).status).toBe(404);
    expect((await send(server, '/ort/package.json')).status).toBe(404);
  });

  it('refuses paths that leave its folders with 403, unlisted files with 404', async () => {
    for (const path of ['/assets/../../secret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/models/fashion/..%2f..%2fpackage.json', '/models/../package.json', '/ort/..%5cpackage.json']) {
      const r = await send(server, path);
      expect(r.status, path).toBe(403);
      expect(json(r).error).toMatch(/outside the served folders/);
    }
    for (const path of ['/models/fashion/state.json', '/models/fashion/samples.png', '/models/nope/config.json', '/assets/missing.js', '/secret.txt', '/src/cli/serve.ts']) {
      expect((await send(server, path)).status, path).toBe(404);
    }
    expect((await send(server, '/%E0%A4%A')).status).toBe(400);
  });

  it("answers names of an object's own machinery with 404, not 500", async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      for (const path of [`/models/fashion/${name}`, `/models/${name}/config.json`, `/ort/${name}`, `/assets/${name}`]) {
        const r = await send(server, path);
        expect(r.status, path).toBe(404);
      }
    }
  });

  it('does not follow links out of the served folders', async () => {
    const card = await send(server, '/models/linked/model-card.md');
    expect(card.status).toBe(403);
    expect(card.body.toString()).not.toContain('not for the web');
    expect(json(card).error).toMatch(/model-card\.md is a link out of its folder/);
    const asset = await send(server, '/assets/linked.js');
    expect(asset.status).toBe(403);
    const linked = json(await send(server, '/api/models')).models.find((m: { name: string }) => m.name === 'linked');
    expect(linked.files.card).toBeNull(); // the model itself still loads
    expect((await send(server, linked.files.config.url)).status).toBe(200);
  });

  it('answers unknown routes with 404 and wrong methods with 405 and Allow', async () => {
    const r = await send(server, '/nothing/here');
    expect([r.status, json(r).error]).toEqual([404, 'nothing at /nothing/here']);
    const p = await send(server, '/', { method: 'POST' });
    expect([p.status, p.headers.allow]).toEqual([405, 'GET, HEAD']);
    expect((await send(server, '/api/models', { method: 'DELETE' })).status).toBe(405);
    const get = await send(server, '/api/save');
    expect([get.status, get.headers.allow]).toEqual([405, 'POST']);
  });

  it('refuses requests for a host name it was not started with (DNS rebinding)', async () => {
    expect((await send(server, '/api/models', { headers: { Host: 'evil.example:8080' } })).status).toBe(403);
    for (const host of ['localhost:1234', 'LOCALHOST', '127.0.0.1:80', '[::1]:99']) expect((await send(server, '/api/models', { headers: { Host: host } })).status, host).toBe(200);
    const named = createAppServer({ appDir, models: [], allowedHosts: ['studio.lan'] });
    await new Promise<void>((r) => named.listen(0, '127.0.0.1', r));
    try {
      expect((await send(named, '/', { headers: { Host: 'Studio.LAN:8080' } })).status).toBe(200);
      expect((await send(named, '/', { headers: { Host: 'attacker.example' } })).status).toBe(403);
    } finally {
      await new Promise((r) => named.close(r));
    }
  });

  it('saves posted PNGs atomically under fresh names inside --out', async () => {
    const a = await post(server, PNG);
    const b = await post(server, PNG, { 'Content-Type': 'IMAGE/PNG' });
    const evil = await post(server, PNG, {}, '../../escape.png');
    expect([a.status, b.status, evil.status]).toEqual([201, 201, 201]);
    expect(json(a).path).toBe(join(outDir, 'result.png'));
    expect(json(b).path).toBe(join(outDir, 'result-2.png'));
    expect(json(evil).path).toBe(join(outDir, 'escape.png'));
    expect(readdirSync(outDir).sort()).toEqual(['escape.png', 'result-2.png', 'result.png']);
    expect(readFileSync(join(outDir, 'result.png')).equals(PNG)).toBe(true);
  });

  it('refuses uploads that are not one whole PNG, too large, foreign, or unaddressed', async () => {
    const refused = async (body: Buffer, headers: Record<string, string | number> = {}) => {
      const r = await post(server, body, headers);
      return [r.status, json(r).error as string] as const;
    };
    const big = Buffer.concat([PNG, Buffer.alloc(LIMIT)]);
    expect((await refused(big, { 'Content-Length': big.length }))[0]).toBe(413);
    expect((await refused(big, { 'Transfer-Encoding': 'chunked' }))[0]).toBe(413);
    expect((await refused(PNG, { 'Content-Type': 'text/plain' }))[0]).toBe(415);
    expect(await refused(Buffer.from('GIF89a'))).toEqual([400, 'the body is not a whole PNG (no PNG signature)']);
    const html = Buffer.concat([PNG.subarray(0, 8), Buffer.from('<html><script>alert(1)</script></html>')]);
    expect((await refused(html))[0]).toBe(400);
    expect((await refused(PNG.subarray(0, PNG.length - 20)))[0]).toBe(400);
    expect((await refused(PNG.subarray(0, PNG.length - 1)))[0]).toBe(400);
    const wide = await sharp({ create: { width: 65, height: 64, channels: 3, background: '#000' } }).png().toBuffer();
    expect(await refused(wide)).toEqual([413, `images are limited to ${MAX_PIXELS} pixels; this one is 65×64`]);
    const { port } = server.address() as AddressInfo;
    expect((await refused(PNG, { Origin: 'http://evil.example', Host: `127.0.0.1:${port}` }))[0]).toBe(403);
    const unnamed = await send(server, '/api/save', { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: PNG });
    expect([unnamed.status, json(unnamed).error]).toEqual([403, `posts must come from the app's page (Origin http://127.0.0.1:${port}), not an unnamed origin`]);
    const off = await post(noSave, PNG);
    expect([off.status, json(off).error]).toEqual([404, 'saving is off — start unmask serve with --out DIR']);
    expect(readdirSync(outDir).filter((f) => !f.startsWith('result') && f !== 'escape.png')).toEqual([]);
  });

  it('closes connections whose headers or body stall', async () => {
    const { port } = slow.address() as AddressInfo;
    const headers = await stall(slow, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
    expect(headers.answer).toMatch(/^HTTP\/1\.1 408/);
    expect(headers.ms).toBeLessThan(5000);
    const upload = `POST /api/save HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: http://127.0.0.1:${port}\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n\x89`;
    const body = await stall(slow, upload);
    expect(body.answer).toMatch(/^HTTP\/1\.1 408/);
    expect(body.answer).toContain('the upload stalled for 0.3 s');
    expect(body.ms).toBeLessThan(5000);
  });

  it('says so in one line when the port is taken', async () => {
    const { port } = server.address() as AddressInfo;
    let err = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
    const code = await main(['node', 'unmask', 'serve', '--port', String(port)]).finally(() => vi.restoreAllMocks());
    expect(code).toBe(1);
    expect(err).toMatch(new RegExp(`^unmask: port ${port} is in use — pass another --port, or --port 0 for any free one$`, 'm'));
  });

  it('listens beyond this machine only with --expose, and never on an empty --host', async () => {
    const refused = await cli('serve', '--port', '0', '--host', '0.0.0.0');
    expect([refused.code, refused.err]).toEqual([1, 'unmask: --host 0.0.0.0 would let other machines use the app — add --expose to do that deliberately, or leave --host out to stay on this machine\n']);
    const empty = await cli('serve', '--port', '0', '--host', '', '--expose');
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/^unmask: --host is empty — give an address/);
  });

  it('warns when exposed, and still answers only the names it was started with', async () => {
    const exposed = await startServe(['--host', '0.0.0.0', '--expose', '--allow-host', 'studio.lan']);
    try {
      expect(exposed.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      await vi.waitFor(() => expect(exposed.log()).toContain('Ctrl-C stops'), { timeout: 5000 });
      expect(exposed.log()).toMatch(/^warning: the app is open to other machines — anyone who can reach port \d+ on any of its network addresses can use it/m);
      const port = Number(new URL(exposed.url).port);
      const at = (host: string) => fetchStatus(port, host);
      expect(await at('attacker.example')).toBe(403);
      expect(await at(`studio.lan:${port}`)).toBe(200);
      expect(await at(`${hostname()}:${port}`)).toBe(200);
      expect(await at(`127.0.0.1:${port}`)).toBe(200);
    } finally {
      await exposed.stop();
    }
  });

  it('names --model directories after their folders, first and unique', () => {
    const models = servedModels([join(MODELS_DIR, 'fashion'), join(MODELS_DIR, 'fashion')]);
    expect(models.map((m) => m.name)).toEqual(['fashion', 'fashion-2', 'emoji', 'fashion-3', 'fashion-classes']); // --model dirs first, then the embedded ones
    expect(() => servedModels([tmp])).toThrow(/is not an unmask model|no model/);
  });
});

/** The status of GET / on 127.0.0.1:`port` with the Host header `host`. */
function fetchStatus(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/', headers: { Host: host } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}
