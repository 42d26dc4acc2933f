// Writes validation images of a built-in data set as PNG files (inputs for the docs' task examples).
//   npx tsx scripts/dump-images.ts fashion docs/inputs 0 7 42
import { join } from 'node:path';
import { loadImageData } from '../src/cli/data.ts';
import { writeImage } from '../src/data/png.ts';

const [name, out, ...indices] = process.argv.slice(2);
const { val } = await loadImageData(name);
for (const s of indices) {
  const i = Number(s);
  const data = new Float32Array(val.channels * val.size * val.size);
  val.read(i, data, 0);
  await writeImage(join(out, `${name}-val-${i}.png`), { n: 1, channels: val.channels, height: val.size, width: val.size, data });
}
