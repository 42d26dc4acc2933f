// A model fetched over HTTP: the files of a model folder served at one address by any web server.
import { type ModelFiles, ModelError, TOKENIZER_FILE } from './model-format.ts';
import { UnmaskModel } from './model.ts';

/**
 * Fetches the model folder at `url` — an embedded model (node_modules/unmask/models/<name>) or one
 * made by `unmask export` — and builds the model: config.json, params.safetensors,
 * tokenizer.safetensors and model-card.md when there is one. (A training run keeps its sampling
 * weights in ema.safetensors: export it first.) `fetchFile` defaults to the global fetch.
 */
export async function fetchModel(url: string, fetchFile: typeof fetch = fetch): Promise<UnmaskModel> {
  const base = url.replace(/\/+$/, '');
  const get = async (name: string): Promise<Response> => {
    const r = await fetchFile(`${base}/${name}`);
    if (!r.ok) throw new ModelError(`${base}/${name}: the server answered ${r.status}`, 'serve the folder of an exported or embedded unmask model at that address');
    return r;
  };
  const bytes = async (name: string) => new Uint8Array(await (await get(name)).arrayBuffer());
  const [config, weights, tokenizer, card] = await Promise.all([
    get('config.json').then((r) => r.text()),
    bytes('params.safetensors'),
    bytes(TOKENIZER_FILE),
    fetchFile(`${base}/model-card.md`).then((r) => (r.ok ? r.text() : null)),
  ]);
  const files: ModelFiles = { config, weights, tokenizer, card };
  return UnmaskModel.fromFiles(base, files);
}
