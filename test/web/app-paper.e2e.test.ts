// End to end at the paper's image size: the web app in headless chromium (wasm) loads a generated model
// with the released models' structure for 256×256 images (test/helpers/paper-model.ts: random weights
// stored as float16 like an imported model; the narrow variant — the paper's VQGAN levels, res blocks,
// attention at 16 px and 1024 codes, a 24-layer, 8-head prior over 16×16 tokens, at a fraction of the
// widths — so it runs in tens of seconds on two cores; the full widths run through the CLI in
// scripts/paper-size.ts). It generates, inpaints under a painted box and extends to the paper's 512×256
// landscape size. Random weights draw noise, and a VQGAN's attention and group norms let every token
// touch every pixel, so what is checked is what holds for any weights: the sizes, and, through the
// step-by-step previews (a still-masked token's patch is drawn mid-grey), which tokens each task
// samples — for inpainting, only those under the box, the others kept from the source.
import { mkdtempSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servedModels } from '../../src/cli/serve.ts';
import { ensureAppBuilt } from '../../src/web/build.ts';
import { createAppServer } from '../../src/web/server.ts';
import { NEWEST, closeApp, drag, maskedPixels, openApp, pixels, runTask, settings, std } from '../helpers/app.ts';
import { writePaperShapedModel } from '../helpers/paper-model.ts';
import { launchChromium } from '../helpers/serve.ts';

const tmp = mkdtempSync(join(tmpdir(), 'unmask-e2e-paper-'));
let server: Server;
let browser: Browser;
let page: Page;
let problems: string[];

beforeAll(async () => {
  const modelDir = join(tmp, 'paper-256');
  writePaperShapedModel(modelDir, { narrow: true });
  const appDir = await ensureAppBuilt();
  server = createAppServer({ appDir, models: servedModels([modelDir]) });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  browser = await launchChromium();
  ({ page, problems } = await openApp(browser, `http://127.0.0.1:${(server.address() as AddressInfo).port}/?model=paper-256`));
}, 180_000);

afterAll(() => closeApp(browser, server, tmp));

const size = () => page.$eval(`${NEWEST} canvas`, (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]);

/**
 * From now on, records at each "step N of M" the token cells (16×16 px patches, row-major) that the
 * live preview shows as still masked: a masked token's patch is drawn exactly mid-grey.
 */
async function recordMaskedCells(): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { steps: { text: string; masked: number[] }[] };
    w.steps = [];
    new MutationObserver(() => {
      const text = document.querySelector('#status')!.textContent ?? '';
      const c = document.querySelector<HTMLCanvasElement>('#results .run.live canvas');
      if (!/step \d+ of/.test(text) || !c) return;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      const masked: number[] = [];
      for (let ty = 0; ty < c.height / 16; ty++)
        for (let tx = 0; tx < c.width / 16; tx++) {
          let grey = true;
          for (let y = ty * 16; grey && y < ty * 16 + 16; y++)
            for (let x = tx * 16; grey && x < tx * 16 + 16; x++) {
              const i = 4 * (y * c.width + x);
              grey = d[i] === 128 && d[i + 1] === 128 && d[i + 2] === 128;
            }
          if (grey) masked.push(ty * (c.width / 16) + tx);
        }
      w.steps.push({ text, masked });
    }).observe(document.querySelector('#status')!, { childList: true, characterData: true, subtree: true });
  });
}

const recorded = () => page.evaluate(() => (window as unknown as { steps: { text: string; masked: number[] }[] }).steps.splice(0));

/** The share of the newest result's pixels that are exactly mid-grey (a masked token's colour). */
async function maskedInResult(): Promise<number> {
  const [w, h] = await size();
  const grey = await page.$eval(`${NEWEST} canvas`, (c) => {
    const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] === 128 && d[i + 1] === 128 && d[i + 2] === 128) n++;
    return n;
  });
  return grey / (w * h);
}

describe("web app at the paper's 256×256 (chromium, wasm)", () => {
  it('loads the model as 256×256 px over 16×16 tokens, starting at one image', async () => {
    expect(await page.textContent('#status')).toMatch(/^paper-256 ready in [\d.]+ s \([\d.]+ MB downloaded\): 256×256 px, 16×16 tokens$/);
    expect(await page.inputValue('#count')).toBe('1');
    await recordMaskedCells();
  });

  it('generates a 256×256 image, revealing the tokens step by step', async () => {
    await settings(page, { seed: 1, steps: 2, count: 1, preview: 'every' });
    expect(await runTask(page)).toMatch(/^generate: 1 image\(s\) in [\d.]+ s \(seed 1\)/);
    expect(await size()).toEqual([256, 256]);
    // After step 1 of 2 about half of the 256 tokens are still masked.
    const steps = await recorded();
    expect(steps.map((s) => s.text.replace(/ · .*/, ''))).toEqual(['generate: step 1 of 2', 'generate: step 2 of 2']);
    expect(steps[0].masked.length).toBeGreaterThan(64);
    expect(steps[0].masked.length).toBeLessThan(192);
    expect(steps[1].masked).toEqual([]);
    expect(std(await pixels(page, `${NEWEST} canvas`))).toBeGreaterThan(0.02);
  });

  it('inpaints a painted box, regenerating only the tokens under it', async () => {
    const run = await page.getAttribute(NEWEST, 'data-run');
    await page.getByRole('button', { name: `Edit image 1 of run ${run}` }).click();
    const source = await pixels(page, '#source-a canvas.image');
    expect(source).toEqual(await pixels(page, `${NEWEST} canvas`));
    await page.check('input[name=tool][value=box]', { force: true });
    await drag(page, [0.25, 0.25], [0.75, 0.75]);
    expect(await maskedPixels(page)).toBe(128 * 128);
    await settings(page, { seed: 2, steps: 4, count: 1 });
    expect(await runTask(page)).toMatch(/^inpaint: 1 image\(s\)/);
    expect(await size()).toEqual([256, 256]);
    // The box covers token rows and columns 4..11: after step 1 of 4 only tokens there are masked, about
    // three quarters of its 64; the tokens outside it are the source's from the start.
    const inBox = (t: number) => t % 16 >= 4 && t % 16 < 12 && Math.floor(t / 16) >= 4 && Math.floor(t / 16) < 12;
    const steps = await recorded();
    expect(steps).toHaveLength(4);
    expect(steps[0].masked.filter((t) => !inBox(t))).toEqual([]);
    expect(steps[0].masked.length).toBeGreaterThan(32);
    expect(steps[0].masked.length).toBeLessThan(64);
    expect(steps[3].masked).toEqual([]);
    expect(await maskedInResult()).toBeLessThan(0.01);
  });

  it("extends to the paper's 512×256 landscape size", async () => {
    await page.click('[data-task=extend]');
    await page.selectOption('#ext-width', '512');
    await page.selectOption('#ext-height', '256');
    await settings(page, { seed: 4, steps: 2, count: 1, preview: 'every' });
    expect(await runTask(page)).toMatch(/^extend: 1 image\(s\)/);
    expect(await size()).toEqual([512, 256]);
    // One 32×16 token grid: after step 1 of 2 about half of its 512 tokens are masked, in both halves.
    const steps = await recorded();
    expect(steps.map((s) => s.text.replace(/ · .*/, ''))).toEqual(['extend: step 1 of 2', 'extend: step 2 of 2']);
    expect(steps[0].masked.length).toBeGreaterThan(128);
    expect(steps[0].masked.length).toBeLessThan(384);
    expect(steps[0].masked.some((t) => t % 32 < 16) && steps[0].masked.some((t) => t % 32 >= 16)).toBe(true);
    expect(steps[1].masked).toEqual([]);
    expect(await maskedInResult()).toBeLessThan(0.01);
    expect(std(await pixels(page, `${NEWEST} canvas`))).toBeGreaterThan(0.02);
  });

  it('logged no console errors and no failed requests', () => {
    expect(problems).toEqual([]);
  });
});
