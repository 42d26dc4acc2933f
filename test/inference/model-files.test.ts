// UnmaskModel.fromFiles (what the browser app calls on fetched bytes) builds the same model as
// loadModel reads from disk, and rejects files that are not a prior's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate } from '../../src/inference/tasks.ts';
import { MODELS_DIR, loadModel } from '../../src/inference/model-dir.ts';
import { ModelError } from '../../src/inference/model-format.ts';
import { UnmaskModel } from '../../src/inference/model.ts';

const dir = join(MODELS_DIR, 'fashion');
const read = (f: string) => readFileSync(join(dir, f));

describe('UnmaskModel.fromFiles', () => {
  it('samples exactly what the loaded model samples', async () => {
    const loaded = loadModel('fashion');
    const fetched = UnmaskModel.fromFiles('http://x/models/fashion', {
      config: read('config.json').toString('utf8'),
      weights: read('params.safetensors'),
      tokenizer: read('tokenizer.safetensors'),
    });
    expect(fetched.prior).toEqual(loaded.prior);
    expect(fetched.card).toBeNull();
    const o = { n: 2, steps: 4, temperature: 0.9, seed: 3 };
    const a = await generate(loaded, o);
    const b = await generate(fetched, o);
    expect(Array.from(b.tokens)).toEqual(Array.from(a.tokens));
    expect(b.images.data).toEqual(a.images.data);
    await Promise.all([loaded.release(), fetched.release()]);
  });

  it('refuses a config that is not JSON or not a prior', () => {
    const files = { weights: new Uint8Array(), tokenizer: new Uint8Array() };
    expect(() => UnmaskModel.fromFiles('m', { ...files, config: '<html>' })).toThrow(ModelError);
    expect(() => UnmaskModel.fromFiles('m', { ...files, config: '{"kind":"unmask-vqgan"}' })).toThrow(/m holds a unmask-vqgan checkpoint, not a prior/);
  });
});
