// Driving the web app in the end-to-end tests: opening it with its problems recorded, reading canvases,
// setting sliders, running a task, painting with the mouse, moving focus with the keyboard only.
import { rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';

export interface OpenApp {
  page: Page;
  /** Console errors, page errors, failed requests and HTTP errors seen so far. */
  problems: string[];
}

/** A new page (in its own context) at `url`, waiting until the model is ready. */
export async function openApp(browser: Browser, url: string, options: BrowserContextOptions = {}): Promise<OpenApp> {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 900 }, ...options });
  const page = await context.newPage();
  const problems = watch(page);
  await page.goto(url);
  await ready(page);
  return { page, problems };
}

/** Records what a page logs as wrong. */
export function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.url()}`));
  return problems;
}

export async function ready(page: Page, timeout = 90_000): Promise<void> {
  await page.waitForFunction(() => document.body.dataset.state === 'ready', undefined, { timeout });
}

/** Grey levels (the red channel, 0..255) of a canvas's pixels. */
export function pixels(page: Page, selector: string, index = 0): Promise<number[]> {
  return page.evaluate(
    ([sel, i]) => {
      const c = document.querySelectorAll<HTMLCanvasElement>(sel)[i as number];
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      return Array.from({ length: d.length / 4 }, (_, p) => d[4 * p]);
    },
    [selector, index] as const,
  );
}

export const meanAbsDiff = (a: number[], b: number[], where: (p: number) => boolean = () => true) => {
  let sum = 0, n = 0;
  a.forEach((v, p) => where(p) && ((sum += Math.abs(v - b[p])), n++));
  return sum / n / 255;
};

export const std = (a: number[]) => {
  const m = a.reduce((s, v) => s + v, 0) / a.length;
  return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length) / 255;
};

/** Sets a range or text input as a user would, firing its input event. */
export async function setValue(page: Page, selector: string, value: string): Promise<void> {
  await page.$eval(selector, (el, v) => {
    (el as HTMLInputElement).value = v;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}

/** A fixed seed, `steps` steps and `count` images. */
export async function settings(page: Page, o: { seed?: number; steps?: number; count?: number; preview?: string }): Promise<void> {
  await page.uncheck('#new-seed');
  if (o.seed !== undefined) await page.fill('#seed', String(o.seed));
  if (o.steps !== undefined) await setValue(page, '#steps', String(o.steps));
  if (o.count !== undefined) await setValue(page, '#count', String(o.count));
  if (o.preview !== undefined) await page.selectOption('#preview', o.preview);
}

/** Clicks Run and waits until the task is done; returns the status line. */
export async function runTask(page: Page, timeout = 90_000): Promise<string> {
  await page.click('#run');
  await page.waitForFunction(() => document.body.dataset.state !== 'running', undefined, { timeout });
  return (await page.textContent('#status')) ?? '';
}

/** Presses `key` to start a run and waits until a new run is in the history (however short the run). */
export async function pressToRun(page: Page, key = 'Enter', timeout = 90_000): Promise<void> {
  const before = await page.locator('#results .run:not(.live)').count();
  await page.keyboard.press(key);
  await page.waitForFunction((n) => document.querySelectorAll('#results .run:not(.live)').length > n && document.body.dataset.state === 'ready', before, { timeout });
}

/** The newest finished run's group (CSS). */
export const NEWEST = '#results > .run:not(.live):first-child';

/** Drags the mouse over the source image between two points given as fractions of its size. */
export async function drag(page: Page, from: [number, number], to: [number, number]): Promise<void> {
  const box = (await page.locator('#source-a canvas.overlay').boundingBox())!;
  const at = ([x, y]: [number, number]) => [box.x + x * box.width, box.y + y * box.height] as const;
  await page.mouse.move(...at(from));
  await page.mouse.down();
  await page.mouse.move(...at(to), { steps: 8 });
  await page.mouse.up();
}

/** How many image pixels the mask marks, as the painter reports it (for screen readers too). */
export async function maskedPixels(page: Page): Promise<number> {
  return Number(await page.getAttribute('#source-a canvas.overlay', 'data-masked'));
}

/** Presses Tab (only the keyboard) until the focused element matches `selector`; fails after `limit` presses. */
export async function tabTo(page: Page, selector: string, limit = 150): Promise<void> {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((sel) => !!document.activeElement?.matches(sel), selector)) return;
  }
  throw new Error(`Tab never reached ${selector}`);
}

/** Closes the browser and an app server the test started itself (with any open connections), and removes its folder. */
export async function closeApp(browser: Browser | undefined, server: Server | undefined, tmp: string): Promise<void> {
  await browser?.close();
  await new Promise((r) => server?.close(r));
  server?.closeAllConnections();
  rmSync(tmp, { recursive: true, force: true });
}
