// A class-conditional model for tests of what depends on classes (the web app's class picker): the
// embedded fashion model copied, with Fashion-MNIST's class names in its config and a label embedding
// (seeded random, small) added to its weights. Its images follow the class only as well as random
// label weights let them; what is tested is that classes reach the model, not the pictures.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../src/engine/rng.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/engine/safetensors.ts';
import { MODELS_DIR } from '../../src/inference/model-dir.ts';

export const FASHION_CLASSES = ['T-shirt', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** Writes the class-conditional copy into `dir` (created) and returns it. */
export function classConditionalFashion(dir: string): string {
  cpSync(join(MODELS_DIR, 'fashion'), dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.prior.classes = FASHION_CLASSES;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(join(dir, 'params.safetensors'))));
  const rng = new Rng(5);
  const d = config.prior.dim as number;
  tensors['label_emb.weight'] = { dtype: 'F32', shape: [FASHION_CLASSES.length + 1, d], data: Float32Array.from({ length: (FASHION_CLASSES.length + 1) * d }, () => 0.02 * rng.normal()) };
  writeFileSync(join(dir, 'params.safetensors'), encodeSafetensors(tensors, metadata));
  return dir;
}
