// Runs the CLI's main() in-process, as a user would call `unmask …`, and captures what it writes.
import { vi } from 'vitest';
import { main } from '../../src/cli/main.ts';

export async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  const code = await main(['node', 'unmask', ...args]);
  vi.restoreAllMocks();
  return { code, out, err };
}
