// The browser app (src/web/app), built with vite's JS API. The npm package ships it prebuilt in
// dist/app (`npm pack` builds it; see scripts/build.ts), and `unmask serve` serves that. From a
// checkout, `ensureAppBuilt` builds it on demand into node_modules/.cache/unmask-web/<hash of the
// sources> the first time and again whenever a source file or the lock file changes. So a fresh clone
// needs only `npm ci`, a source edit never serves a stale bundle, and nothing is fetched from the network.
//
// onnxruntime-web stays out of the bundle: the app's worker imports one of its builds at run time, by
// the URL the server lists (/ort/…, sent from the npm package with its .wasm beside it), choosing the
// wasm-only build or the WebGPU one for the browser at hand. ORT starts its wasm threads as workers on its
// own script (import.meta.url), so that script must be ORT's file, not a chunk of ours.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'vite';
import { UnmaskError } from '../errors.ts';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = join(SRC, '..');
export const APP_SOURCE = join(SRC, 'web', 'app');
/** The app as the package ships it: dist/app beside the compiled code (absent under src/). */
export const PREBUILT_APP = join(SRC, 'app');
const CACHE = join(ROOT, 'node_modules', '.cache', 'unmask-web');
/** A static import of onnxruntime-web would load one build for every browser: the build refuses it. */
function browserResolution(): Plugin {
  return {
    name: 'unmask-browser-resolution',
    enforce: 'pre',
    resolveId(source, importer) {
      if (source === 'onnxruntime-web') this.error(`${importer} imports onnxruntime-web; the app loads its build at run time (src/web/app/worker.ts, engine/runtime-web-core.ts)`);
      return null;
    },
  };
}

/** A hash of everything the bundle is made from: the sources under src/ and the locked dependencies. */
export function sourceHash(): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|html|css)$/.test(e.name)) h.update(relative(SRC, p)).update('\0').update(readFileSync(p)).update('\0');
    }
  };
  walk(SRC);
  h.update(readFileSync(join(ROOT, 'package-lock.json')));
  return h.digest('hex').slice(0, 16);
}

/** Builds the app into `outDir` (emptied first). */
export async function buildApp(outDir: string): Promise<void> {
  const { build } = await import('vite');
  await build({
    configFile: false,
    root: APP_SOURCE,
    base: '/',
    mode: 'production',
    logLevel: 'warn',
    plugins: [browserResolution()],
    worker: { format: 'es', plugins: () => [browserResolution()] },
    build: { outDir, emptyOutDir: true, target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 2000 },
  });
}

/**
 * The folder of the built app: the package's prebuilt one, or (from a checkout) the one for the
 * current sources, building it first if needed (`onBuild` is called then, to tell the user why they wait). Concurrent callers each build into their own folder and the
 * first rename wins; folders of older sources are removed.
 */
export async function ensureAppBuilt(onBuild?: () => void): Promise<string> {
  if (existsSync(join(PREBUILT_APP, 'index.html'))) return PREBUILT_APP;
  if (!existsSync(APP_SOURCE)) throw new UnmaskError(`${PREBUILT_APP}: the web app is missing from this installation`, 'reinstall unmask');
  const hash = sourceHash();
  const dir = join(CACHE, hash);
  if (existsSync(join(dir, 'index.html'))) return dir;
  onBuild?.();
  mkdirSync(CACHE, { recursive: true });
  const tmp = join(CACHE, `${hash}.partial-${process.pid}-${Date.now()}`);
  try {
    await buildApp(tmp);
    try {
      renameSync(tmp, dir);
    } catch (e) {
      if (!existsSync(join(dir, 'index.html'))) throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  for (const old of readdirSync(CACHE)) if (old !== hash && !old.includes('.partial-')) rmSync(join(CACHE, old), { recursive: true, force: true });
  return dir;
}
