// Starting `unmask serve` as a child process and a headless Debian chromium driven by playwright-core,
// for the end-to-end tests and scripts/web-screenshots.ts.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM = '/usr/bin/chromium';

export interface RunningServer {
  url: string;
  /** Everything the server wrote to stderr. */
  log: () => string;
  stop: () => Promise<void>;
}

/** Runs `unmask serve --port 0 …args` and resolves with its URL once it listens. */
export function startServe(args: string[] = []): Promise<RunningServer> {
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'bin', 'unmask.js'), 'serve', '--port', '0', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      const url = /^(http:\/\/\S+)\n/.exec(stdout)?.[1];
      if (url) resolve({ url, log: () => stderr, stop });
    });
    child.once('exit', (code) => reject(new Error(`unmask serve exited with ${code}: ${stderr.trim()}`)));
  });
}

/** Debian's chromium, headless. */
export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing — install it with: apt-get install -y --no-install-recommends chromium`);
  // --no-sandbox: CI containers run as root, where chromium's sandbox can't start.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}
