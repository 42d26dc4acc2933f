// End to end on WebGPU: headless chromium offers a software WebGPU adapter (SwiftShader) when asked, so
// the app's WebGPU path runs for real here — onnxruntime-web's WebGPU build, our graphs on its WebGPU
// execution provider — and gives the images wasm gives for the same seed. And when WebGPU is offered but
// onnxruntime-web can't start it, 'auto' says so and runs on wasm. SwiftShader is slow (seconds per
// step on two cores), so the runs here are one image, one step.
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NEWEST, meanAbsDiff, pixels, ready, runTask, settings, watch } from '../helpers/app.ts';
import { CHROMIUM, type RunningServer, startServe } from '../helpers/serve.ts';

const WEBGPU_BUNDLE = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm')), 'ort.bundle.min.mjs');
let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  [server, browser] = await Promise.all([
    startServe(),
    chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'] }),
  ]);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function open(): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems = watch(page);
  return { page, problems };
}

describe('web app on WebGPU (chromium, SwiftShader)', () => {
  it('runs on WebGPU where the browser offers an adapter, with the images wasm gives', async () => {
    const { page, problems } = await open();
    await page.goto(`${server.url}?model=fashion`);
    await ready(page, 240_000);
    expect(await page.textContent('#backend-used')).toMatch(/^running on WebGPU \(google swiftshader\) and wasm, \d+ threads?$/);
    await settings(page, { seed: 21, steps: 1, count: 1, preview: 'off' });
    expect(await runTask(page, 240_000)).toMatch(/^generate: 1 image/);
    const gpu = await pixels(page, `${NEWEST} canvas`);
    await page.selectOption('#backend', 'wasm');
    await ready(page);
    expect(await page.textContent('#backend-used')).toMatch(/^running on wasm/);
    await runTask(page);
    const cpu = await pixels(page, `${NEWEST} canvas`);
    const d = meanAbsDiff(gpu, cpu);
    console.log(`WebGPU (SwiftShader) vs wasm, seed 21, 1 step: mean |Δ| ${d.toFixed(4)} of the range`);
    expect(d).toBeLessThan(0.02);
    expect(problems).toEqual([]);
    await page.close();
  });

  it("falls back to wasm under 'auto' when WebGPU is offered but onnxruntime-web can't start it", async () => {
    const { page, problems } = await open();
    // onnxruntime-web's WebGPU build, with its device request broken as a failing driver would break it.
    const broken = readFileSync(WEBGPU_BUNDLE, 'utf8').replace('this.device=await r.requestDevice(o)', 'this.device=await Promise.reject(new Error("no device for you"))');
    await page.route('**/ort/ort.bundle.min.mjs*', (r) => r.fulfill({ body: broken, contentType: 'text/javascript', headers: { 'Cross-Origin-Resource-Policy': 'same-origin' } }));
    await page.goto(`${server.url}?model=fashion`);
    await ready(page, 240_000);
    expect(await page.textContent('#backend-used')).toMatch(/^running on wasm, \d+ threads? \(WebGPU failed: /);
    await settings(page, { seed: 22, steps: 1, count: 1 });
    expect(await runTask(page)).toMatch(/^generate: 1 image/);
    expect(problems.filter((p) => !/no device for you/.test(p))).toEqual([]);
    await page.close();
  });
});
