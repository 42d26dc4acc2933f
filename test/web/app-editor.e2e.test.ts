// End to end, the editor around the model (issue 16): a results history, each image opened large beside
// what it was made from, PNGs at an enlarged size, mask undo and redo, the brush's size and outline, a
// mask that shows on any image, strokes that start where a pressed pointer comes in, the preview cadence,
// a second visit served from the browser's cache, and generate → inpaint → download by keyboard alone.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servedModels } from '../../src/cli/serve.ts';
import { FASHION_CLASSES, classConditionalFashion } from '../helpers/class-model.ts';
import { ensureAppBuilt } from '../../src/web/build.ts';
import { createAppServer } from '../../src/web/server.ts';
import { NEWEST, closeApp, drag, maskedPixels, openApp, pixels, pressToRun, ready, runTask, settings, tabTo, watch } from '../helpers/app.ts';
import { CHROMIUM, launchChromium } from '../helpers/serve.ts';

let server: Server;
let url: string;
const tmp = mkdtempSync(join(tmpdir(), 'unmask-e2e-editor-'));
/** Every path the server was asked for. */
const requests: string[] = [];
let browser: Browser;
let page: Page;
let problems: string[];

beforeAll(async () => {
  const appDir = await ensureAppBuilt();
  server = createAppServer({ appDir, models: servedModels([classConditionalFashion(join(tmp, 'fashion-classes'))]) });
  server.on('request', (req) => requests.push(req.url ?? ''));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/?model=fashion`;
  browser = await launchChromium();
  ({ page, problems } = await openApp(browser, url));
}, 180_000);

afterAll(() => closeApp(browser, server, tmp));

const newestRun = async () => Number(await page.getAttribute(NEWEST, 'data-run'));

describe('web app editor (chromium, wasm)', () => {
  it('keeps every run in a history, newest first, saying how each was made', async () => {
    await settings(page, { seed: 11, steps: 3, count: 2, preview: 'off' });
    await runTask(page);
    await settings(page, { seed: 12, steps: 4, count: 1 });
    await runTask(page);
    const titles = await page.$$eval('#results .run h3', (hs) => hs.map((h) => h.textContent));
    expect(titles).toEqual([
      expect.stringMatching(/^Run 2: generate, fashion, seed 12, 4 steps, random, temperature 0\.9, [\d.]+ s$/),
      expect.stringMatching(/^Run 1: generate, fashion, seed 11, 3 steps, random, temperature 0\.9, [\d.]+ s$/),
    ]);
    expect(await page.locator('#results .run').nth(1).locator('canvas').count()).toBe(2);
  });

  it('decodes previews at the cadence asked for', async () => {
    const previews = async (preview: string, steps: number) => {
      await settings(page, { seed: 13, steps, count: 1, preview });
      await runTask(page);
      return JSON.parse((await page.getAttribute(NEWEST, 'data-times'))!) as { previewCount: number; previews: number; seconds: number };
    };
    expect((await previews('off', 8)).previewCount).toBe(0);
    expect((await previews('every', 8)).previewCount).toBe(8);
    // Under the budget previews stay a small part of the run: never one per step when a decode costs more than a fifth of a step.
    const budget = await previews('budget', 16);
    expect(budget.previewCount).toBeLessThan(16);
    await page.selectOption('#preview', 'budget');
  });

  it('opens an image large beside what it was made from, and moves between images with the arrow keys', async () => {
    await settings(page, { seed: 14, steps: 3, count: 2 });
    await runTask(page);
    await page.getByRole('button', { name: `Edit image 1 of run ${await newestRun()}` }).click();
    const source = await pixels(page, '#source-a canvas.image');
    await drag(page, [0.2, 0.2], [0.8, 0.8]);
    await runTask(page);
    const run = await newestRun();
    const result = await pixels(page, `${NEWEST} canvas`, 0);
    await page.getByRole('button', { name: `Enlarge image 1 of run ${run}` }).click();
    expect(await page.$eval('#viewer', (d) => (d as HTMLDialogElement).open)).toBe(true);
    expect(await page.textContent('#viewer h2')).toBe(`Run ${run}, image 1 of 2`);
    expect(await page.$$eval('#viewer figcaption', (fs) => fs.map((f) => f.textContent))).toEqual(['Before', 'After']);
    expect(await pixels(page, '#viewer .compare canvas', 0)).toEqual(source);
    expect(await pixels(page, '#viewer .compare canvas', 1)).toEqual(result);
    const shown = (await page.locator('#viewer .compare canvas').nth(1).boundingBox())!;
    expect(shown.width).toBeGreaterThan(200);
    await page.keyboard.press('ArrowRight');
    expect(await page.textContent('#viewer h2')).toBe(`Run ${run}, image 2 of 2`);
    expect(await pixels(page, '#viewer .compare canvas', 1)).toEqual(await pixels(page, `${NEWEST} canvas`, 1));
    await page.keyboard.press('Escape');
    expect(await page.$eval('#viewer', (d) => (d as HTMLDialogElement).open)).toBe(false);
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe(`Enlarge image 1 of run ${run}`);
  });

  it('downloads a PNG enlarged with nearest-neighbour sampling, as --scale does', async () => {
    const run = await newestRun();
    await page.selectOption('#scale', '8');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: `Download image 1 of run ${run} as PNG` }).click()]);
    expect(download.suggestedFilename()).toBe('unmask-fashion-inpaint-seed14-1-8x.png');
    const { data, info } = await sharp(readFileSync((await download.path())!)).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([256, 256]);
    const small = await pixels(page, `${NEWEST} canvas`, 0);
    let mismatched = 0;
    for (let y = 0; y < 256; y++) for (let x = 0; x < 256; x++) if (data[(y * 256 + x) * info.channels] !== small[Math.floor(y / 8) * 32 + Math.floor(x / 8)]) mismatched++;
    expect(mismatched).toBe(0);
  });

  it('undoes and redoes mask edits, by button and by keyboard', async () => {
    await page.getByRole('button', { name: `Edit image 1 of run ${await newestRun()}` }).click();
    await page.check('input[name=tool][value=brush]', { force: true });
    await page.click('#clear-mask');
    await drag(page, [0.2, 0.3], [0.8, 0.3]);
    const a = await maskedPixels(page);
    await drag(page, [0.2, 0.7], [0.8, 0.7]);
    const b = await maskedPixels(page);
    expect(b).toBeGreaterThan(a);
    await page.click('#undo');
    expect(await maskedPixels(page)).toBe(a);
    await page.click('#redo');
    expect(await maskedPixels(page)).toBe(b);
    await page.keyboard.press('Control+z');
    expect(await maskedPixels(page)).toBe(a);
    await page.keyboard.press('Control+Shift+z');
    expect(await maskedPixels(page)).toBe(b);
    await page.click('#clear-mask');
    expect(await maskedPixels(page)).toBe(0);
    await page.click('#undo');
    expect(await maskedPixels(page)).toBe(b);
    expect(await page.isEnabled('#redo')).toBe(true);
    // A new stroke after undoing leaves nothing to redo.
    await drag(page, [0.5, 0.1], [0.5, 0.9]);
    expect(await page.isDisabled('#redo')).toBe(true);
  });

  it('shows the brush size as a number and its outline under the pointer', async () => {
    await page.click('#clear-mask');
    await page.fill('#radius', '6');
    await page.dispatchEvent('#radius', 'input');
    expect(await page.textContent('#radius-out')).toBe('6 px');
    const box = (await page.locator('#source-a canvas.overlay').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    // The outline is a white ring of radius 6 image pixels around the pointer; nothing is painted.
    const ring = await page.evaluate(() => {
      const c = document.querySelector<HTMLCanvasElement>('#source-a canvas.overlay')!;
      const k = c.width / 32;
      const g = c.getContext('2d')!;
      const at = (x: number, y: number) => Array.from(g.getImageData(Math.round(x), Math.round(y), 1, 1).data);
      return { onRing: at(c.width / 2 + 6 * k, c.height / 2), centre: at(c.width / 2, c.height / 2) };
    });
    expect(ring.onRing[3]).toBeGreaterThan(200);
    expect(ring.centre[3]).toBe(0);
    expect(await maskedPixels(page)).toBe(0);
    await page.mouse.move(box.x - 30, box.y - 30);
  });

  it('starts a stroke where a pressed mouse comes into the canvas', async () => {
    await page.click('#clear-mask');
    const box = (await page.locator('#source-a canvas.overlay').boundingBox())!;
    await page.mouse.move(box.x - 20, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 10 });
    await page.mouse.up();
    expect(await maskedPixels(page)).toBeGreaterThan(20);
  });

  it('draws the mask in stripes that stand out on any image', async () => {
    await page.click('#clear-mask');
    await page.check('input[name=tool][value=box]', { force: true });
    await drag(page, [0.1, 0.1], [0.9, 0.9]);
    const colours = await page.evaluate(() => {
      const c = document.querySelector<HTMLCanvasElement>('#source-a canvas.overlay')!;
      const d = c.getContext('2d')!.getImageData(c.width / 4, c.height / 4, c.width / 2, c.height / 2).data;
      const seen = new Map<string, number[]>();
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 150) seen.set(`${d[i] >> 4},${d[i + 1] >> 4},${d[i + 2] >> 4}`, [d[i], d[i + 1], d[i + 2], d[i + 3] / 255]);
      return [...seen.values()];
    });
    // Composited over any solid colour, some stripe differs from it by a clearly visible amount.
    for (const under of [[0, 0, 0], [255, 255, 255], [128, 128, 128], [255, 45, 150], [20, 20, 24], [0, 128, 255], [255, 220, 0]]) {
      const best = Math.max(...colours.map(([r, g, b, a]) => a * Math.hypot(r - under[0], g - under[1], b - under[2])));
      expect(best, `over ${under}`).toBeGreaterThan(120);
    }
  });

  it('generates, inpaints and downloads with the keyboard alone', async () => {
    await page.click('[data-task=generate]');
    await settings(page, { seed: 15, steps: 2, count: 1 });
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await tabTo(page, '#run');
    await pressToRun(page);
    const run = await newestRun();
    await tabTo(page, `[aria-label="Edit image 1 of run ${run}"]`);
    await page.keyboard.press('Enter');
    expect(await page.getAttribute('[data-task=inpaint]', 'aria-selected')).toBe('true');
    await tabTo(page, 'input[name=tool]');
    for (let i = 0; i < 3 && !(await page.isChecked('input[name=tool][value=brush]')); i++) await page.keyboard.press('ArrowLeft');
    expect(await page.isChecked('input[name=tool][value=brush]')).toBe(true);
    await tabTo(page, '#source-a canvas.overlay');
    await page.keyboard.press('Space');
    for (let i = 0; i < 3; i++) await page.keyboard.press('Shift+ArrowRight');
    expect(await maskedPixels(page)).toBeGreaterThan(20);
    await tabTo(page, '#run');
    await pressToRun(page);
    expect(await page.textContent('#status')).toMatch(/^inpaint: 1 image/);
    await tabTo(page, `[aria-label="Download image 1 of run ${run + 1} as PNG"]`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
    expect(download.suggestedFilename()).toBe('unmask-fashion-inpaint-seed15-1-8x.png');
  });

  it('offers the classes of a class-conditional model, and guidance once a class is chosen', async () => {
    expect(await page.isHidden('#class-row')).toBe(true); // fashion is unconditional
    await page.selectOption('#model', 'fashion-classes');
    await ready(page);
    await page.click('[data-task=generate]');
    expect(await page.$$eval('#class option', (os) => os.map((o) => o.textContent))).toEqual(['any', ...FASHION_CLASSES]);
    expect(await page.isHidden('#guidance-row')).toBe(true);
    await page.selectOption('#class', 'Trouser');
    expect(await page.isVisible('#guidance-row')).toBe(true);
    await settings(page, { seed: 16, steps: 2, count: 1 });
    expect(await runTask(page)).toMatch(/^generate: 1 image/);
    expect(await page.textContent(`${NEWEST} h3`)).toMatch(/^Run \d+: generate, fashion-classes, class Trouser, seed 16,/);
    await page.selectOption('#model', 'fashion');
    await ready(page);
    expect(await page.isHidden('#class-row')).toBe(true);
  });

  it('logged no console errors and no failed requests', () => {
    expect(problems).toEqual([]);
  });
});

describe('web app loading (chromium, a profile kept between visits)', () => {
  it('keeps the model and the wasm in the browser: a second visit fetches none of their bytes', async () => {
    const profile = mkdtempSync(join(tmpdir(), 'unmask-e2e-profile-'));
    const visit = async () => {
      const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ['--no-sandbox'] });
      try {
        const p = context.pages()[0] ?? (await context.newPage());
        const seen = watch(p);
        requests.length = 0;
        await p.goto(url);
        await ready(p);
        expect(seen).toEqual([]);
        return { status: (await p.textContent('#status'))!, requests: [...requests] };
      } finally {
        await context.close();
      }
    };
    try {
      const first = await visit();
      const big = (r: string) => /^\/models\/|\.wasm\?/.test(r);
      expect(first.requests.filter(big).sort()).toEqual([
        expect.stringMatching(/^\/models\/fashion\/config\.json\?v=/),
        expect.stringMatching(/^\/models\/fashion\/model-card\.md\?v=/),
        expect.stringMatching(/^\/models\/fashion\/params\.safetensors\?v=/),
        expect.stringMatching(/^\/models\/fashion\/tokenizer\.safetensors\?v=/),
        expect.stringMatching(/^\/ort\/ort-wasm-simd-threaded\.wasm\?v=/),
      ]);
      expect(first.status).toMatch(/^fashion ready in [\d.]+ s \([\d.]+ MB downloaded\)/);
      const second = await visit();
      expect(second.requests.filter((r) => big(r) || r.startsWith('/ort/'))).toEqual([]);
      expect(second.status).toMatch(/^fashion ready in [\d.]+ s \(all [\d.]+ MB from cache\)/);
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
