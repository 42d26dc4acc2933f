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
import { NEWEST, drag, maskedPixels, meanAbsDiff, openApp, pixels, runTask, setValue, settings, std } from '../helpers/app.ts';
import { type RunningServer, launchChromium, startServe } from '../helpers/serve.ts';

const outDir = mkdtempSync(join(tmpdir(), 'unmask-e2e-'));
let server: RunningServer;
let browser: Browser;
let page: Page;
let problems: string[] = [];

beforeAll(async () => {
  [server, browser] = await Promise.all([startServe(['--out', outDir]), launchChromium()]);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(outDir, { recursive: true, force: true });
});

const newest = (i: number) => pixels(page, `${NEWEST} canvas`, i);

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

  it('loads the app and the fashion model from unmask serve, saying what it runs on', async () => {
    ({ page, problems } = await openApp(browser, `${server.url}?model=fashion`)); // the small model, whatever the default is
    expect(await page.$eval('#model', (s) => [...(s as HTMLSelectElement).options].map((o) => o.value))).toContain('fashion');
    // Two cores here: onnxruntime-web's own default would be one thread.
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    expect(await page.textContent('#backend-used')).toBe(`running on wasm, ${cores} thread${cores === 1 ? '' : 's'}`);
    expect(await page.textContent('#status')).toMatch(/^fashion ready in [\d.]+ s \([\d.]+ MB downloaded\): 32×32 px, 8×8 tokens$/);
  });

  it('generates images, showing the grid step by step', async () => {
    await settings(page, { seed: 7, steps: 4, count: 2, preview: 'every' });
    await page.evaluate(() => {
      const w = window as unknown as { stepLog: { text: string; grey: number }[] };
      w.stepLog = [];
      new MutationObserver(() => {
        const text = document.querySelector('#status')!.textContent ?? '';
        const c = document.querySelector<HTMLCanvasElement>('#results .run.live canvas');
        if (!/step \d+ of/.test(text) || !c) return;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let grey = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] === 128 && d[i + 1] === 128 && d[i + 2] === 128) grey++;
        w.stepLog.push({ text, grey: grey / (d.length / 4) });
      }).observe(document.querySelector('#status')!, { childList: true, characterData: true, subtree: true });
    });
    expect(await runTask(page)).toMatch(/^generate: 2 image\(s\) in [\d.]+ s \(seed 7\) · [\d.]+ s per step$/);
    const log = await page.evaluate(() => (window as unknown as { stepLog: { text: string; grey: number }[] }).stepLog);
    expect(log.map((s) => s.text.replace(/ · .*/, ''))).toEqual([1, 2, 3, 4].map((s) => `generate: step ${s} of 4`));
    for (const s of log) expect(s.text).toMatch(/· [\d.]+ s per step · about \d+ s left$/);
    // After step 1 of 4 about three quarters of the tokens are still masked (drawn mid-grey); at the end none.
    expect(log[0].grey).toBeGreaterThan(0.4);
    expect(log[3].grey).toBeLessThan(0.05);
    expect(await page.locator(`${NEWEST} canvas`).count()).toBe(2);
    const [a, b] = [await newest(0), await newest(1)];
    expect(a).toHaveLength(32 * 32);
    expect(std(a)).toBeGreaterThan(0.1);
    expect(meanAbsDiff(a, b)).toBeGreaterThan(0.02);
  });

  it('paints a mask with brush, eraser and box, and inpaints under it', async () => {
    await page.getByRole('button', { name: 'Edit image 1 of run 1' }).click();
    expect(await page.getAttribute('[data-task=inpaint]', 'aria-selected')).toBe('true');
    const source = await pixels(page, '#source-a canvas.image');
    expect(source).toEqual(await newest(0));
    expect(await page.isDisabled('#run')).toBe(true);

    await page.check('input[name=tool][value=brush]', { force: true });
    await drag(page, [0.2, 0.5], [0.8, 0.5]);
    const brushed = await maskedPixels(page);
    expect(brushed).toBeGreaterThan(20);
    expect(await page.isEnabled('#run')).toBe(true);
    await page.check('input[name=tool][value=eraser]', { force: true });
    await setValue(page, '#radius', '8');
    await drag(page, [0.1, 0.5], [0.9, 0.5]);
    expect(await maskedPixels(page)).toBe(0);
    expect(await page.isDisabled('#run')).toBe(true);
    expect(await page.textContent('#hint')).toMatch(/paint over the part to regenerate/);

    await page.check('input[name=tool][value=box]', { force: true });
    await drag(page, [0.25, 0.25], [0.75, 0.75]);
    expect(await maskedPixels(page)).toBe(16 * 16);
    await setValue(page, '#steps', '4');
    expect(await runTask(page)).toMatch(/^inpaint: 2 image\(s\)/);
    const inBox = (p: number) => {
      const x = p % 32, y = Math.floor(p / 32);
      return x >= 8 && x < 24 && y >= 8 && y < 24;
    };
    for (const i of [0, 1]) {
      const out = await newest(i);
      const inside = meanAbsDiff(out, source, inBox), outside = meanAbsDiff(out, source, (p) => !inBox(p));
      expect(inside, `result ${i}: change inside the box`).toBeGreaterThan(0.03);
      expect(inside, `result ${i}: inside vs outside`).toBeGreaterThan(2 * outside);
    }
  });

  it('loads an image file, completes, stitches and extends', async () => {
    await page.click('[data-task=complete]');
    const before = await pixels(page, '#source-a canvas.image');
    await page.setInputFiles('#source-a input[type=file]', join(MODELS_DIR, 'fashion', 'samples.png'));
    await page.waitForFunction((old) => {
      const c = document.querySelector<HTMLCanvasElement>('#source-a canvas.image')!;
      const d = c.getContext('2d')!.getImageData(0, 0, 32, 32).data;
      return Array.from({ length: 1024 }, (_, p) => d[4 * p]).some((v, p) => v !== old[p]);
    }, before);
    expect(std(await pixels(page, '#source-a canvas.image'))).toBeGreaterThan(0.05);
    await page.selectOption('#keep', 'left');
    expect(await runTask(page)).toMatch(/^complete: 2 image\(s\)/);

    await page.getByRole('button', { name: 'Use image 2 of run 3 as the right image for stitching' }).click();
    expect(await page.getAttribute('[data-task=stitch]', 'aria-selected')).toBe('true');
    expect(await runTask(page)).toMatch(/^stitch: 2 image\(s\)/);

    await page.click('[data-task=extend]');
    await page.selectOption('#ext-width', '64');
    await page.selectOption('#ext-height', '32');
    await settings(page, { count: 1, steps: 4 });
    expect(await runTask(page)).toMatch(/^extend: 1 image\(s\)/);
    const size = await page.$eval(`${NEWEST} canvas`, (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]);
    expect(size).toEqual([64, 32]);
    expect(std(await newest(0))).toBeGreaterThan(0.1);
  });

  it('downloads and saves results as PNG', async () => {
    await page.selectOption('#scale', '1');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download image 1 of run 5 as PNG' }).click()]);
    expect(download.suggestedFilename()).toBe('unmask-fashion-extend-seed7-1.png');
    const png = readFileSync((await download.path())!);
    expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
    await page.getByRole('button', { name: 'Save image 1 of run 5 on the server' }).click();
    await page.waitForFunction(() => /^saved /.test(document.querySelector('#status')!.textContent ?? ''));
    expect(readdirSync(outDir)).toEqual(['unmask-fashion-extend-seed7-1.png']);
  });

  it('stops a run part-way', async () => {
    await page.click('[data-task=generate]');
    await setValue(page, '#steps', '64');
    await page.click('#run');
    await page.waitForFunction(() => /step \d+ of 64/.test(document.querySelector('#status')!.textContent ?? ''));
    await page.click('#stop');
    await page.waitForFunction(() => document.body.dataset.state === 'ready');
    expect(await page.textContent('#status')).toBe('stopped');
    expect(await page.isEnabled('#run')).toBe(true);
    expect(await page.locator('#results .run.live').count()).toBe(0);
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
