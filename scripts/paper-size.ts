// The paper's model size end to end on this machine, as a user runs it: a model with the released
// models' shapes (63.3 M + 76.8 M parameters, random weights, float16 files), then `unmask sample`,
// `inpaint` and `extend --size 512x256` (the paper's landscapes), each timed, with the process's peak
// resident memory so far. Time per image is what to expect from the released models on this CPU.
//
//   npx tsx scripts/paper-size.ts [--steps 50] [--n 1]
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { main } from '../src/cli/main.ts';
import { writeImage } from '../src/data/png.ts';
import { writePaperShapedModel } from '../test/helpers/paper-model.ts';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '50' }, n: { type: 'string', default: '1' } } });
const dir = mkdtempSync(join(tmpdir(), 'unmask-paper-size-'));
const model = join(dir, 'model');
const photo = join(dir, 'photo.png');
const report = (what: string, t0: number) =>
  console.log(`${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s; peak memory ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB; load average ${loadavg()[0].toFixed(1)}`);
try {
  let t0 = performance.now();
  const counts = writePaperShapedModel(model);
  report(`model written (${(counts.tokenizerParameters / 1e6).toFixed(1)} M + ${(counts.priorParameters / 1e6).toFixed(1)} M parameters)`, t0);
  await writeImage(photo, { n: 1, channels: 3, height: 256, width: 256, data: Float32Array.from({ length: 3 * 256 * 256 }, (_, i) => 0.5 + 0.4 * Math.sin(i / 97)) });
  const common = ['--model', model, '--n', values.n, '--steps', values.steps];
  for (const args of [['sample'], ['inpaint', '--in', photo, '--box', '64,64,128,128'], ['extend', '--size', '512x256']]) {
    t0 = performance.now();
    const code = await main(['node', 'unmask', ...args, ...common, '--out', join(dir, `${args[0]}.png`)]);
    if (code !== 0) throw new Error(`unmask ${args.join(' ')} failed`);
    report(`unmask ${args.join(' ')} ${common.slice(2).join(' ')}`, t0);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
