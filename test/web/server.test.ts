// The server behind `unmask serve`, through real HTTP requests: what it sends, and what it refuses
// (paths outside its folders, unlisted files, wrong methods, oversized or foreign uploads).
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { servedModels } from '../../src/cli/serve.ts';
import { MODELS_DIR } from '../../src/inference/model-dir.ts';
import { createAppServer } from '../../src/web/server.ts';

const tmp = mkdtempSync(join(tmpdir(), 'unmask-serve-'));
const appDir = join(tmp, 'app');
const outDir = join(tmp, 'out');
const LIMIT = 4096;
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);
let server: Server;
let noSave: Server;

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

beforeAll(async () => {
  mkdirSync(join(appDir, 'assets'), { recursive: true });
  writeFileSync(join(appDir, 'index.html'), '<!doctype html><title>app</title>');
  writeFileSync(join(appDir, 'assets', 'main-abc123.js'), 'console.log(1)');
  writeFileSync(join(tmp, 'secret.txt'), 'not for the web');
  mkdirSync(outDir);
  const models = servedModels([]);
  server = createAppServer({ appDir, models, outDir, loopback: true, maxUploadBytes: LIMIT });
  noSave = createAppServer({ appDir, models, loopback: true });
  await Promise.all([server, noSave].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
});

afterAll(async () => {
  await Promise.all([server, noSave].map((s) => new Promise((r) => s.close(r))));
  rmSync(tmp, { recursive: true, force: true });
});

describe('unmask serve', () => {
  it('sends the app, with cross-origin isolation and a same-origin-only content policy', async () => {
    const r = await send(server, '/');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toContain('<title>app</title>');
    expect(r.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(r.headers['cross-origin-embedder-policy']).toBe('require-corp');
    expect(r.headers['content-security-policy']).toMatch(/default-src 'self'/);
    const asset = await send(server, '/assets/main-abc123.js');
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toMatch(/^text\/javascript/);
    const again = await send(server, '/assets/main-abc123.js', { headers: { 'If-None-Match': String(asset.headers.etag) } });
    expect(again.status).toBe(304);
  });

  it('lists the models and sends exactly their files, byte for byte', async () => {
    const list = json(await send(server, '/api/models'));
    expect(list.save).toBe(true);
    const fashion = list.models.find((m: { name: string }) => m.name === 'fashion');
    expect(fashion.files).toEqual({
      config: '/models/fashion/config.json',
      weights: '/models/fashion/params.safetensors',
      tokenizer: '/models/fashion/tokenizer.safetensors',
      card: '/models/fashion/model-card.md',
    });
    const weights = await send(server, fashion.files.weights);
    expect(weights.status).toBe(200);
    expect(weights.body.equals(readFileSync(join(MODELS_DIR, 'fashion', 'params.safetensors')))).toBe(true);
    expect(fashion.bytes).toBeGreaterThan(weights.body.length);
    const head = await send(server, fashion.files.config, { method: 'HEAD' });
    expect([head.status, head.body.length, Number(head.headers['content-length'])]).toEqual([200, 0, readFileSync(join(MODELS_DIR, 'fashion', 'config.json')).length]);
  });

  it("sends onnxruntime-web's bundle and wasm, and nothing else from the package", async () => {
    const wasm = await send(server, '/ort/ort-wasm-simd-threaded.jsep.wasm', { method: 'HEAD' });
    expect(wasm.status).toBe(200);
    expect(wasm.headers['content-type']).toBe('application/wasm');
    expect((await send(server, '/ort/ort.bundle.min.mjs', { method: 'HEAD' })).status).toBe(200);
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

  it('answers unknown routes with 404 and wrong methods with 405 and Allow', async () => {
    const r = await send(server, '/nothing/here');
    expect([r.status, json(r).error]).toEqual([404, 'nothing at /nothing/here']);
    const post = await send(server, '/', { method: 'POST' });
    expect([post.status, post.headers.allow]).toEqual([405, 'GET, HEAD']);
    expect((await send(server, '/api/models', { method: 'DELETE' })).status).toBe(405);
    const get = await send(server, '/api/save');
    expect([get.status, get.headers.allow]).toEqual([405, 'POST']);
  });

  it('refuses requests for another host name (DNS rebinding)', async () => {
    expect((await send(server, '/api/models', { headers: { Host: 'evil.example:8080' } })).status).toBe(403);
    expect((await send(server, '/api/models', { headers: { Host: `localhost:1234` } })).status).toBe(200);
  });

  it('saves posted PNGs atomically under fresh names inside --out', async () => {
    const png = { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: PNG };
    const a = await send(server, '/api/save?name=result.png', png);
    const b = await send(server, '/api/save?name=result.png', png);
    const evil = await send(server, `/api/save?name=${encodeURIComponent('../../escape.png')}`, png);
    expect([a.status, b.status, evil.status]).toEqual([201, 201, 201]);
    expect(json(a).path).toBe(join(outDir, 'result.png'));
    expect(json(b).path).toBe(join(outDir, 'result-2.png'));
    expect(json(evil).path).toBe(join(outDir, 'escape.png'));
    expect(readdirSync(outDir).sort()).toEqual(['escape.png', 'result-2.png', 'result.png']);
    expect(readFileSync(join(outDir, 'result.png')).equals(PNG)).toBe(true);
  });

  it('refuses oversized, non-PNG and cross-origin uploads, and uploads when saving is off', async () => {
    const big = Buffer.concat([PNG, Buffer.alloc(LIMIT)]);
    const declared = await send(server, '/api/save', { method: 'POST', headers: { 'Content-Type': 'image/png', 'Content-Length': big.length }, body: big });
    expect(declared.status).toBe(413);
    const streamed = await send(server, '/api/save', { method: 'POST', headers: { 'Content-Type': 'image/png', 'Transfer-Encoding': 'chunked' }, body: big });
    expect(streamed.status).toBe(413);
    expect((await send(server, '/api/save', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: PNG })).status).toBe(415);
    expect((await send(server, '/api/save', { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: Buffer.from('GIF89a') })).status).toBe(400);
    const { port } = server.address() as AddressInfo;
    const foreign = await send(server, '/api/save', { method: 'POST', headers: { 'Content-Type': 'image/png', Origin: 'http://evil.example', Host: `127.0.0.1:${port}` }, body: PNG });
    expect(foreign.status).toBe(403);
    const off = await send(noSave, '/api/save', { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: PNG });
    expect([off.status, json(off).error]).toEqual([404, 'saving is off — start unmask serve with --out DIR']);
    expect(readdirSync(outDir).filter((f) => !f.startsWith('result') && f !== 'escape.png')).toEqual([]);
  });

  it('says so in one line when the port is taken', async () => {
    const { port } = server.address() as AddressInfo;
    let err = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
    const code = await main(['node', 'unmask', 'serve', '--port', String(port)]).finally(() => vi.restoreAllMocks());
    expect(code).toBe(1);
    expect(err).toMatch(new RegExp(`^unmask: port ${port} is in use — pass another --port, or --port 0 for any free one$`, 'm'));
  });

  it('names --model directories after their folders, first and unique', () => {
    const models = servedModels([join(MODELS_DIR, 'fashion'), join(MODELS_DIR, 'fashion')]);
    expect(models.map((m) => m.name)).toEqual(['fashion', 'fashion-2', 'emoji', 'fashion-3']); // --model dirs first, then the embedded ones
    expect(() => servedModels([tmp])).toThrow(/is not an unmask model|no model/);
  });
});
