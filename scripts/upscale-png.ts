// Enlarges a PNG k times with crisp pixels (for small previews in docs/).
//   npx tsx scripts/upscale-png.ts in.png out.png 3 [channels]
import { upscale } from '../src/data/images.ts';
import { readImage, writeImage } from '../src/data/png.ts';

const [input, output, k, channels = '3'] = process.argv.slice(2);
await writeImage(output, upscale(await readImage(input, { channels: Number(channels) as 1 | 3 }), Number(k)));
