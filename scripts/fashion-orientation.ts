// Which way Fashion-MNIST's images face, per class (reports/recipe, the flip row of the screen): for each
// training image, is the ink of its top third (a shoe's heel and shaft) right of the ink of the whole
// image? About half either way for a symmetric class; near all one way for a class that faces one way,
// whose mirror images are then out of the data's distribution. Then what that costs in FID: 1,000
// training images against the screen's 1,000 validation images (n = 1,000, the committed feature
// network), as they are and with each image of the one-way classes mirrored with probability ½, which is
// what a perfect model of the data with --flip would draw. Usage: npx tsx scripts/fashion-orientation.ts
import '../src/index.ts'; // chooses onnxruntime-node
import { FASHION_CLASSES, loadFashion } from '../src/data/fashion.ts';
import { fillBatch } from '../src/data/image-set.ts';
import { openFeatureExtractor, sampleOf } from '../src/eval/evaluate.ts';
import { fid } from '../src/eval/fid.ts';
import { Rng } from '../src/engine/rng.ts';

const { train } = loadFashion({ size: 28 });
const side = train.size;
const img = new Float32Array(side * side);
const right = new Array<number>(FASHION_CLASSES.length).fill(0);
const count = new Array<number>(FASHION_CLASSES.length).fill(0);
for (let i = 0; i < train.count; i++) {
  train.read(i, img, 0);
  let y0 = side, y1 = -1;
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) if (img[y * side + x] > 0.1) (y0 = Math.min(y0, y)), (y1 = Math.max(y1, y));
  if (y1 < 0) continue;
  const cut = y0 + (y1 - y0 + 1) / 3;
  let top = 0, topX = 0, all = 0, allX = 0;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const v = img[y * side + x];
      all += v;
      allX += v * x;
      if (y < cut) (top += v), (topX += v * x);
    }
  }
  const c = train.label!(i);
  count[c]++;
  if (topX / top > allX / all) right[c]++;
}
console.log('| class | images | top third right of centre |\n|---|---|---|');
for (let c = 0; c < FASHION_CLASSES.length; c++) console.log(`| ${FASHION_CLASSES[c]} | ${count[c]} | ${(right[c] / count[c]).toFixed(3)} |`);

const oneWay = FASHION_CLASSES.map((_, c) => right[c] / count[c] > 0.85);
const n = 1000;
const data = loadFashion({ size: 32 });
const features = await openFeatureExtractor('models/features/fashion.onnx', 1, 32);
const images = (set: typeof train, mirror: (i: number) => boolean): Float32Array => {
  const out = new Float32Array(n * 32 * 32);
  fillBatch(set, Array.from({ length: n }, (_, i) => i), out, Array.from({ length: n }, (_, i) => mirror(i)));
  return out;
};
const real = await features.features(images(sampleOf(data.val, n), () => false), n);
const rng = new Rng(1);
for (const [what, mirror] of [
  ['as they are', () => false],
  [`${FASHION_CLASSES.filter((_, c) => oneWay[c]).join(', ')} mirrored with probability ½`, (i: number) => oneWay[data.train.label!(i)] && rng.next() < 0.5],
] as const) {
  console.log(`FID of ${n} training images, ${what}: ${fid(real, await features.features(images(data.train, mirror), n)).toFixed(2)}`);
}
await features.release();
