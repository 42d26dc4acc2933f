// `unmask serve`: the browser app on a local server. The server only sends files (the app, the models,
// onnxruntime-web); the model runs in the page. The app is built on first use and whenever the sources
// change (src/web/build.ts).
import type { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { checkOutputFolder } from '../engine/outputs.ts';
import { hostname, networkInterfaces } from 'node:os';
import { basename, resolve } from 'node:path';
import { listModels, loadModel, modelFilePaths } from '../inference/model-dir.ts';
import { ensureAppBuilt } from '../web/build.ts';
import { type ServedModel, createAppServer } from '../web/server.ts';
import { int } from './parse.ts';
import { UnmaskError } from '../errors.ts';

interface ServeFlags {
  port: number;
  host: string;
  expose?: boolean;
  allowHost?: string[];
  model?: string[];
  out?: string;
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|::1)$/i;
const EVERY_INTERFACE = new Set(['0.0.0.0', '::']);

/**
 * The host names requests may be addressed to besides loopback ones: --host itself, or for every
 * interface the machine's name and addresses; and each --allow-host. Refuses an empty --host, and one
 * beyond loopback without --expose.
 */
export function allowedHosts(flags: Pick<ServeFlags, 'host' | 'expose' | 'allowHost'>): string[] {
  const host = flags.host;
  if (!host.trim()) throw new UnmaskError('--host is empty', 'give an address: 127.0.0.1 (the default, this machine only), or 0.0.0.0 with --expose for every network');
  if (!LOOPBACK.test(host) && !flags.expose) {
    throw new UnmaskError(`--host ${host} would let other machines use the app`, 'add --expose to do that deliberately, or leave --host out to stay on this machine');
  }
  const own = EVERY_INTERFACE.has(host)
    ? [hostname(), ...Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address))]
    : [host];
  return [...new Set([...own, ...(flags.allowHost ?? [])].map((h) => h.toLowerCase()))];
}

/**
 * The --model directories first (under their folder names, made unique), then the embedded models. A
 * --model that is not a model, or whose weights are damaged, is an error; an embedded one that can't be
 * read is skipped and reported through `onSkip`, so one broken install doesn't take the others down.
 */
export function servedModels(dirs: string[], onSkip: (name: string, problem: string) => void = () => {}): ServedModel[] {
  const out: ServedModel[] = [];
  const taken = new Set<string>();
  const add = (base: string, dirOrName: string, summary: string) => {
    const paths = modelFilePaths(dirOrName);
    // Read in full once, as a load would: config against weights (missing, extra, misshaped tensors) and
    // every value finite, so a damaged model is refused here rather than failing in the page.
    loadModel(dirOrName);
    const clean = base.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '') || 'model';
    let name = clean;
    for (let i = 2; taken.has(name); i++) name = `${clean}-${i}`;
    taken.add(name);
    out.push({ name, summary, paths });
  };
  for (const dir of dirs) add(basename(resolve(dir)), dir, resolve(dir));
  for (const m of listModels()) {
    try {
      add(m.name, m.dir, m.summary);
    } catch (e) {
      onSkip(m.name, e instanceof Error ? e.message : String(e));
    }
  }
  return out;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the browser app: generate and edit images in the page (onnxruntime-web, WebGPU or wasm)')
    .option('--port <p>', 'port to listen on; 0 picks a free one', int('--port', 0, 65535), 8080)
    .option('--host <address>', 'address to listen on; the default keeps the app on this machine', '127.0.0.1')
    .option('--expose', 'allow a --host beyond this machine (0.0.0.0: every network); anyone who reaches it can use the app')
    .option('--allow-host <name>', 'also accept requests addressed to this host name, e.g. a DNS name of this machine (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .option('--model <dir>', 'also offer this run or model directory (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .option('--out <dir>', "let the app's Save button write PNGs into this folder")
    .action(async (flags: ServeFlags) => {
      const hosts = allowedHosts(flags);
      const models = servedModels(flags.model ?? [], (name, problem) => process.stderr.write(`skipping the embedded model ${name}: ${problem}\n`));
      if (flags.out) {
        checkOutputFolder(flags.out, '--out');
        mkdirSync(flags.out, { recursive: true });
      }
      const appDir = await ensureAppBuilt(() => process.stderr.write('building the web app (once per source change)…\n'));
      const server = createAppServer({ appDir, models, outDir: flags.out && resolve(flags.out), allowedHosts: hosts });
      await new Promise<void>((done, fail) => {
        server.once('error', (e: NodeJS.ErrnoException) =>
          fail(e.code === 'EADDRINUSE' ? new UnmaskError(`port ${flags.port} is in use`, 'pass another --port, or --port 0 for any free one') : e),
        );
        server.listen(flags.port, flags.host, done);
      });
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : flags.port;
      // Bound to every interface, the address to open on this machine is loopback's.
      const shown = flags.host === '0.0.0.0' ? '127.0.0.1' : flags.host === '::' ? '::1' : flags.host;
      const host = shown.includes(':') ? `[${shown}]` : shown;
      process.stdout.write(`http://${host}:${port}/\n`);
      if (!LOOPBACK.test(flags.host)) {
        process.stderr.write(
          `warning: the app is open to other machines — anyone who can reach port ${port} on ${EVERY_INTERFACE.has(flags.host) ? 'any of its network addresses' : flags.host} can use it and download the models${flags.out ? `, and save PNGs into ${flags.out}` : ''}. Requests must name one of: ${hosts.join(', ')} (add more with --allow-host)\n`,
        );
      }
      process.stderr.write(`serving ${models.map((m) => m.name).join(', ') || 'no models'}${flags.out ? `, saving into ${flags.out}` : ''}; Ctrl-C stops\n`);
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          server.close(() => done());
          server.closeAllConnections();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
