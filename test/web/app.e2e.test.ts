// End to end: `unmask serve` (which builds the app), the page in a real headless chromium, the embedded
// fashion model on onnxruntime-web's wasm backend. Generates, paints masks with the mouse and inpaints,
// completes, stitches and extends, downloads and saves a PNG; checks what the canvases show after every
// step and at the end, and that the page logged no console error and no request failed.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS_DIR } from '../../src/inference/model-dir.ts';
import { ensureAppBuilt } from '../../src/web/build.ts';
import { type RunningServer, launchChromium, startServe } from '../helpers/serve.ts';

const outDir = mkdtempSync(join(tmpdir(), 'unmask-e2e-'));
let server: RunningServer;
let browser: Browser;
let page: Page;
const problems: string[] = [];

beforeAll(async () => {
  [server, browser] = await Promise.all([startServe(['--out', outDir]), launchChromium()]);
  page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1200, height: 900 } });
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.url()}`));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(outDir, { recursive: true, force: true });
});

/** Grey levels (0..255) of a canvas's pixels. */
function pixels(selector: string, index = 0): Promise<number[]> {
  return page.evaluate(
    ([sel, i]) => {
      const c = document.querySelectorAll<HTMLCanvasElement>(sel)[i as number];
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      return Array.from({ length: d.length / 4 }, (_, p) => d[4 * p]);
    },
    [selector, index] as const,
  );
}

const meanAbsDiff = (a: number[], b: number[], where: (p: number) => boolean = () => true) => {
  let sum = 0, n = 0;
  a.forEach((v, p) => where(p) && ((sum += Math.abs(v - b[p])), n++));
  return sum / n / 255;
};

const std = (a: number[]) => {
  const m = a.reduce((s, v) => s + v, 0) / a.length;
  return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length) / 255;
};

async function setValue(selector: string, value: string): Promise<void> {
  await page.$eval(selector, (el, v) => {
    (el as HTMLInputElement).value = v;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}

/** Clicks Run and waits until the task is done; returns the status line. */
async function runTask(): Promise<string> {
  await page.click('#run');
  await page.waitForFunction(() => document.body.dataset.state !== 'running', undefined, { timeout: 60_000 });
  return (await page.textContent('#status')) ?? '';
}

/** Drags the mouse over the source image between two points given as fractions of its size. */
async function drag(from: [number, number], to: [number, number]): Promise<void> {
  const box = (await page.locator('#source-a canvas.overlay').boundingBox())!;
  const at = ([x, y]: [number, number]) => [box.x + x * box.width, box.y + y * box.height] as const;
  await page.mouse.move(...at(from));
  await page.mouse.down();
  await page.mouse.move(...at(to), { steps: 8 });
  await page.mouse.up();
}

/** Overlay pixels painted in the strong mask colour (the painted pixels, not just their tokens). */
function paintedPixels(): Promise<number> {
  return page.evaluate(() => {
    const c = document.querySelector<HTMLCanvasElement>('#source-a canvas.overlay')!;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 120) n++;
    return n / 64; // overlay pixels per image pixel
  });
}

describe('web app (chromium, wasm)', () => {
  it('builds a bundle with no Node modules in it', async () => {
    const dir = await ensureAppBuilt(() => problems.push('the bundle was rebuilt although unmask serve had just built it'));
    const js = readdirSync(join(dir, 'assets')).filter((f) => f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(1);
    for (const f of js) {
      const text = readFileSync(join(dir, 'assets', f), 'utf8');
      // Vite would stub a Node built-in (__vite-browser-external) and keep the code that calls it.
      expect(text, f).not.toMatch(/__vite-browser-external|readFileSync|from\s*["']node:|require\(\s*["']node:|from\s*["']onnxruntime-node/);
    }
  });

  it('loads the app and the fashion model from unmask serve', async () => {
    await page.goto(`${server.url}?model=fashion`); // the small model, whatever the default is
    await page.waitForSelector('body[data-state=ready]', { timeout: 60_000 });
    expect(await page.$eval('#model', (s) => [...(s as HTMLSelectElement).options].map((o) => o.value))).toContain('fashion');
    expect(await page.textContent('#backend-used')).toMatch(/wasm/);
    expect(await page.textContent('#status')).toMatch(/fashion ready: 32×32 px, 8×8 tokens/);
  });

  it('generates images, showing the grid step by step', async () => {
    await page.uncheck('#new-seed');
    await page.fill('#seed', '7');
    await setValue('#steps', '4');
    await setValue('#count', '2');
    await page.evaluate(() => {
      const w = window as unknown as { stepLog: { text: string; grey: number }[] };
      w.stepLog = [];
      new MutationObserver(() => {
        const text = document.querySelector('#status')!.textContent ?? '';
        const c = document.querySelector<HTMLCanvasElement>('.result canvas');
        if (!/step \d+ of/.test(text) || !c) return;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let grey = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] === 128 && d[i + 1] === 128 && d[i + 2] === 128) grey++;
        w.stepLog.push({ text, grey: grey / (d.length / 4) });
      }).observe(document.querySelector('#status')!, { childList: true, characterData: true, subtree: true });
    });
    expect(await runTask()).toMatch(/^generate: 2 image\(s\) in [\d.]+ s \(seed 7\)$/);
    const log = await page.evaluate(() => (window as unknown as { stepLog: { text: string; grey: number }[] }).stepLog);
    expect(log.map((s) => s.text)).toEqual([1, 2, 3, 4].map((s) => `generate: step ${s} of 4`));
    // After step 1 of 4 about three quarters of the tokens are still masked (drawn mid-grey); at the end none.
    expect(log[0].grey).toBeGreaterThan(0.4);
    expect(log[3].grey).toBeLessThan(0.05);
    expect(await page.locator('.result canvas').count()).toBe(2);
    const [a, b] = [await pixels('.result canvas', 0), await pixels('.result canvas', 1)];
    expect(a).toHaveLength(32 * 32);
    expect(std(a)).toBeGreaterThan(0.1);
    expect(meanAbsDiff(a, b)).toBeGreaterThan(0.02);
  });

  it('paints a mask with brush, eraser and box, and inpaints under it', async () => {
    await page.click('.result >> nth=0 >> button:has-text("Edit")');
    expect(await page.getAttribute('[data-task=inpaint]', 'aria-selected')).toBe('true');
    const source = await pixels('#source-a canvas.image');
    expect(source).toEqual(await pixels('.result canvas', 0));
    expect(await page.isDisabled('#run')).toBe(true);

    await page.check('input[name=tool][value=brush]', { force: true });
    await drag([0.2, 0.5], [0.8, 0.5]);
    const brushed = await paintedPixels();
    expect(brushed).toBeGreaterThan(20);
    expect(await page.isEnabled('#run')).toBe(true);
    await page.check('input[name=tool][value=eraser]', { force: true });
    await setValue('#radius', '8');
    await drag([0.1, 0.5], [0.9, 0.5]);
    expect(await paintedPixels()).toBe(0);
    expect(await page.isDisabled('#run')).toBe(true);
    expect(await page.textContent('#hint')).toMatch(/paint over the part to regenerate/);

    await page.check('input[name=tool][value=box]', { force: true });
    await drag([0.25, 0.25], [0.75, 0.75]);
    expect(await paintedPixels()).toBeGreaterThan(200);
    await setValue('#steps', '4');
    expect(await runTask()).toMatch(/^inpaint: 2 image\(s\)/);
    const inBox = (p: number) => {
      const x = p % 32, y = Math.floor(p / 32);
      return x >= 8 && x < 24 && y >= 8 && y < 24;
    };
    for (const i of [0, 1]) {
      const out = await pixels('.result canvas', i);
      const inside = meanAbsDiff(out, source, inBox), outside = meanAbsDiff(out, source, (p) => !inBox(p));
      expect(inside, `result ${i}: change inside the box`).toBeGreaterThan(0.03);
      expect(inside, `result ${i}: inside vs outside`).toBeGreaterThan(2 * outside);
    }
  });

  it('loads an image file, completes, stitches and extends', async () => {
    await page.click('[data-task=complete]');
    const before = await pixels('#source-a canvas.image');
    await page.setInputFiles('#source-a input[type=file]', join(MODELS_DIR, 'fashion', 'samples.png'));
    await page.waitForFunction((old) => {
      const c = document.querySelector<HTMLCanvasElement>('#source-a canvas.image')!;
      const d = c.getContext('2d')!.getImageData(0, 0, 32, 32).data;
      return Array.from({ length: 1024 }, (_, p) => d[4 * p]).some((v, p) => v !== old[p]);
    }, before);
    expect(std(await pixels('#source-a canvas.image'))).toBeGreaterThan(0.05);
    await page.selectOption('#keep', 'left');
    expect(await runTask()).toMatch(/^complete: 2 image\(s\)/);

    await page.click('.result >> nth=1 >> button:has-text("As right")');
    expect(await page.getAttribute('[data-task=stitch]', 'aria-selected')).toBe('true');
    expect(await runTask()).toMatch(/^stitch: 2 image\(s\)/);

    await page.click('[data-task=extend]');
    await page.selectOption('#ext-width', '64');
    await page.selectOption('#ext-height', '32');
    await setValue('#count', '1');
    await setValue('#steps', '4');
    expect(await runTask()).toMatch(/^extend: 1 image\(s\)/);
    const size = await page.$eval('.result canvas', (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]);
    expect(size).toEqual([64, 32]);
    expect(std(await pixels('.result canvas'))).toBeGreaterThan(0.1);
  });

  it('downloads and saves results as PNG', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('.result >> nth=0 >> button:has-text("PNG")')]);
    expect(download.suggestedFilename()).toMatch(/^unmask-fashion-extend-seed7-1\.png$/);
    const png = readFileSync((await download.path())!);
    expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
    await page.click('.result >> nth=0 >> button:has-text("Save")');
    await page.waitForFunction(() => /^saved /.test(document.querySelector('#status')!.textContent ?? ''));
    expect(readdirSync(outDir)).toEqual(['unmask-fashion-extend-seed7-1.png']);
  });

  it('stops a run part-way', async () => {
    await page.click('[data-task=generate]');
    await setValue('#steps', '64');
    await page.click('#run');
    await page.waitForFunction(() => /step \d+ of 64/.test(document.querySelector('#status')!.textContent ?? ''));
    await page.click('#stop');
    await page.waitForFunction(() => document.body.dataset.state === 'ready');
    expect(await page.textContent('#status')).toBe('stopped');
    expect(await page.isEnabled('#run')).toBe(true);
  });

  it('fits a phone-width screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 1200, height: 900 });
  });

  it('logged no console errors and no failed requests', () => {
    expect(problems).toEqual([]);
  });
});
