// withSessionDefaults: what `unmask --threads N` sets for every session, unless a session asks otherwise.
import { describe, expect, it } from 'vitest';
import { type Runtime, type SessionOptions, withSessionDefaults } from '../../src/engine/runtime.ts';

describe('withSessionDefaults', () => {
  it('fills options a session leaves unset (or undefined) and keeps the ones it sets', async () => {
    const seen: SessionOptions[] = [];
    const base: Runtime = {
      name: 'fake',
      createSession: async (_model, opts = {}) => {
        seen.push(opts);
        return { inputNames: [], outputNames: [], run: async () => ({}), release: async () => {} };
      },
    };
    const rt = withSessionDefaults(base, { threads: 1 });
    await rt.createSession(new Uint8Array());
    await rt.createSession(new Uint8Array(), { threads: undefined, spin: false });
    await rt.createSession(new Uint8Array(), { threads: 4 });
    expect(seen).toEqual([{ threads: 1 }, { threads: 1, spin: false }, { threads: 4 }]);
    expect(rt.name).toBe('fake');
  });
});
