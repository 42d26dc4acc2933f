// `unmask bench web`: the browser app in a real (headless) Chromium against the CLI on the same machine.
// Time to ready on a first visit (a fresh profile: everything downloaded) and on a second visit (the
// same profile: models and wasm from the browser's cache), then seconds per generation for fixed
// settings, page and `unmask sample` in alternating rounds, so whatever else the machine does weighs on
// both alike. Chromium is driven by playwright-core (a development dependency) and is never downloaded:
// pass the executable of an installed Chromium.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { UnmaskError } from '../errors.ts';
import { ensureAppBuilt } from '../web/build.ts';
import { type ServedModel, createAppServer } from '../web/server.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface WebBenchOptions {
  models: ServedModel[];
  model: string;
  n: number;
  steps: number;
  seed: number;
  rounds: number;
  chromium: string;
  /** Extra Chromium flags, e.g. to offer a software WebGPU adapter. */
  chromiumArgs?: string[];
  backend?: 'auto' | 'wasm' | 'webgpu';
  /** The prior's precision, in the page and in unmask sample alike. Default fp32. */
  precision?: 'fp32' | 'int8';
  onProgress?: (line: string) => void;
}

export interface LoadResult {
  seconds: number;
  /** The page's own account: bytes from the network and from the browser's cache, and the backend line. */
  status: string;
  backend: string;
}

export interface RunTiming {
  /** From the click on Run to the results shown, as the user waits (what the ratio uses). */
  wall: number;
  /** The worker's own account: the run, and where its time went (ms). */
  seconds: number;
  sampling: number;
  previews: number;
  previewCount: number;
  decode: number;
}

export interface WebBenchResult {
  cold: LoadResult;
  warm: LoadResult;
  /** The page's first generation after load (it builds the prior's sessions, as every CLI run does). */
  pageFirst: RunTiming;
  /** Later generations in the same page, median. */
  page: RunTiming[];
  /** `unmask sample` with the same settings: the seconds it reports (sampling and decoding), one process per round. */
  cli: number[];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function playwright(): Promise<typeof import('playwright-core')> {
  try {
    return await import('playwright-core');
  } catch {
    throw new UnmaskError('bench web needs the playwright-core package to drive Chromium', 'npm install playwright-core (a development dependency of unmask)');
  }
}

export async function benchWeb(o: WebBenchOptions): Promise<WebBenchResult> {
  if (!existsSync(o.chromium)) throw new UnmaskError(`no Chromium at ${o.chromium}`, 'install one (apt-get install chromium) or pass --chromium PATH');
  const { chromium } = await playwright();
  const say = o.onProgress ?? (() => {});
  const appDir = await ensureAppBuilt(() => say('building the web app…'));
  const server = createAppServer({ appDir, models: o.models });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/?model=${encodeURIComponent(o.model)}`;
  const profile = mkdtempSync(join(tmpdir(), 'unmask-bench-web-'));
  const open = () => chromium.launchPersistentContext(profile, { executablePath: o.chromium, args: ['--no-sandbox', ...(o.chromiumArgs ?? [])], headless: true });
  let context: BrowserContext | null = null;
  try {
    say('first visit (fresh profile)…');
    context = await open();
    const cold = await visit(context, url, o);
    await context.close();
    say('second visit (same profile)…');
    context = await open();
    const warm = await visit(context, url, o);
    const page = context.pages()[0];
    const sampling = await settings(page, o);
    say('generating in the page and with unmask sample, alternating…');
    const pageFirst = await generateInPage(page);
    const runs: RunTiming[] = [];
    const cli: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      runs.push(await generateInPage(page));
      cli.push(await generateWithCli(o, sampling));
      say(`round ${r + 1}/${o.rounds}: page ${runs[r].wall.toFixed(2)} s, CLI ${cli[r].toFixed(2)} s`);
    }
    return { cold, warm, pageFirst, page: runs, cli };
  } finally {
    await context?.close();
    await new Promise((r) => server.close(r));
    server.closeAllConnections();
    rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  }
}

/** Opens the app and waits until the model is ready; seconds from navigation to ready. */
async function visit(context: BrowserContext, url: string, o: WebBenchOptions): Promise<LoadResult> {
  const page = context.pages()[0] ?? (await context.newPage());
  const t0 = Date.now();
  await page.goto(url + (o.backend ? `&backend=${o.backend}` : ''));
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), undefined, { timeout: 600_000 });
  const seconds = (Date.now() - t0) / 1000;
  const status = (await page.textContent('#status')) ?? '';
  if ((await page.getAttribute('body', 'data-state')) === 'error') throw new UnmaskError(`the app failed to load: ${status}`, 'open it by hand with unmask serve to see why');
  return { seconds, status, backend: (await page.textContent('#backend-used')) ?? '' };
}

/** Sets the page's controls; returns the sampling flags that make unmask sample do what the page does. */
async function settings(page: Page, o: WebBenchOptions): Promise<string[]> {
  await page.uncheck('#new-seed');
  // set even where the control is hidden (WebGPU runs float32 whatever it says)
  await page.$eval('#precision', (el, v) => {
    (el as HTMLSelectElement).value = v;
    el.dispatchEvent(new Event('change', { bubbles: true }));
  }, o.precision ?? 'fp32');
  await page.fill('#seed', String(o.seed));
  for (const [selector, value] of [['#steps', o.steps], ['#count', o.n]] as const) {
    await page.$eval(selector, (el, v) => {
      (el as HTMLInputElement).value = String(v);
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }, value);
  }
  // The schedule and temperature the page starts with (the model's recommended, or the page's defaults).
  const [schedule, temp] = await Promise.all([page.inputValue('#schedule'), page.inputValue('#temp')]);
  return ['--schedule', schedule, '--temp', temp, '--precision', o.precision ?? 'fp32'];
}

/**
 * Timed inside the page: from the click on Run until the results are in the page (checked every 5 ms);
 * NaN when the run ends without results. A string, so the TypeScript loader's helpers stay out of it.
 */
const TIME_RUN = `new Promise((resolve) => {
  const t0 = performance.now();
  const finished = () => document.querySelectorAll('#results .run:not(.live)').length > BEFORE;
  const failed = () => document.body.dataset.state !== 'running' && performance.now() - t0 > 1000;
  document.querySelector('#run').click();
  const check = () => (finished() ? resolve((performance.now() - t0) / 1000) : failed() ? resolve(NaN) : setTimeout(check, 5));
  check();
})`;

async function generateInPage(page: Page): Promise<RunTiming> {
  const before = await page.locator('#results .run:not(.live)').count();
  const wall = (await page.evaluate(TIME_RUN.replace('BEFORE', String(before)))) as number;
  if (Number.isNaN(wall)) throw new UnmaskError(`the page's run failed: ${await page.textContent('#status')}`, 'open it by hand with unmask serve to see why');
  await page.waitForFunction(() => document.body.dataset.state === 'ready');
  const times = await page.getAttribute('#results > .run:first-child', 'data-times');
  if (!times) throw new UnmaskError(`the page did not finish: ${await page.textContent('#status')}`, 'open it by hand with unmask serve to see why');
  return { wall, ...(JSON.parse(times) as Omit<RunTiming, 'wall'>) };
}

function generateWithCli(o: WebBenchOptions, sampling: string[]): Promise<number> {
  const out = join(tmpdir(), `unmask-bench-web-${process.pid}.png`);
  const model = o.models.find((m) => m.name === o.model)!;
  const args = [join(ROOT, 'bin', 'unmask.js'), 'sample', '--model', model.paths.dir, '--n', String(o.n), '--steps', String(o.steps), '--seed', String(o.seed), ...sampling, '--out', out, '--json'];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => {
      rmSync(out, { force: true });
      const summary = stdout
        .split('\n')
        .filter((l) => l.startsWith('{') && l.includes('"seconds"'))
        .map((l) => JSON.parse(l) as { seconds: number })[0];
      if (code !== 0 || !summary) reject(new UnmaskError(`unmask sample failed (exit ${code}): ${stderr.trim().split('\n').pop()}`, 'run it by hand to see why'));
      else resolve(summary.seconds);
    });
  });
}
