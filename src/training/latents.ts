// The dataset's code grids, encoded once with a trained tokenizer and cached on disk until that
// tokenizer changes (the cache key hashes its config and weights).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from '../data/image-set.ts';
import type { LatentSet } from '../data/latent-set.ts';
import { writeFileAtomic } from '../engine/files.ts';
import type { ParamStore } from '../engine/params.ts';
import type { Tokenizer } from '../inference/tokenizer.ts';

export function tokenizerHash(config: unknown, params: ParamStore): string {
  const h = createHash('sha256').update(JSON.stringify(config));
  for (const name of params.names().sort()) {
    const p = params.get(name);
    h.update(name).update(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength));
  }
  return h.digest('hex').slice(0, 16);
}

/** Encodes `set` with `tokenizer` (in chunks, reporting progress) or reads the cached codes; labels come along where the set has them. */
export async function encodeDataset(
  tokenizer: Tokenizer,
  key: string,
  set: ImageSet,
  cacheDir: string,
  onProgress?: (done: number, total: number) => void,
): Promise<LatentSet> {
  const n = tokenizer.latent * tokenizer.latent;
  const file = join(cacheDir, `latents-${key}-${set.name}-${set.count}.i32`);
  if (existsSync(file)) {
    const buf = readFileSync(file);
    const tokens = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    if (tokens.length === set.count * n) return { count: set.count, tokens, labels: labelsOf(set) };
  }
  const per = set.channels * set.size * set.size;
  const tokens = new Int32Array(set.count * n);
  const chunk = 256;
  for (let i = 0; i < set.count; i += chunk) {
    const m = Math.min(chunk, set.count - i);
    const images = new Float32Array(m * per);
    for (let j = 0; j < m; j++) set.read(i + j, images, j * per);
    const codes = await tokenizer.encode(images, m);
    tokens.set(codes, i * n);
    onProgress?.(i + m, set.count);
  }
  mkdirSync(cacheDir, { recursive: true });
  writeFileAtomic(file, new Uint8Array(tokens.buffer));
  return { count: set.count, tokens, labels: labelsOf(set) };
}

function labelsOf(set: ImageSet): Int32Array | undefined {
  const label = set.label;
  return label ? Int32Array.from({ length: set.count }, (_, i) => label.call(set, i)) : undefined;
}

/** Several latent sets as one (labels kept only when every set has them). */
export function concatLatents(sets: LatentSet[]): LatentSet {
  const count = sets.reduce((a, s) => a + s.count, 0);
  const tokens = new Int32Array(sets.reduce((a, s) => a + s.tokens.length, 0));
  let at = 0;
  for (const s of sets) {
    tokens.set(s.tokens, at);
    at += s.tokens.length;
  }
  if (!sets.every((s) => s.labels)) return { count, tokens };
  const labels = new Int32Array(count);
  at = 0;
  for (const s of sets) {
    labels.set(s.labels!, at);
    at += s.count;
  }
  return { count, tokens, labels };
}
