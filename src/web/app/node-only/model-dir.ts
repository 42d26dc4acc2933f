// In the browser build this stands in for src/tasks/model-dir.ts (see ../../build.ts): the app fetches a
// model's files and calls UnmaskModel.fromFiles, never UnmaskModel.load.
import type { ModelFiles } from '../../../tasks/model.ts';

export function readModelDir(_nameOrDir: string): { dir: string; files: ModelFiles } {
  throw new Error('reading a model directory needs Node.js — in the browser, fetch the files and use UnmaskModel.fromFiles');
}
