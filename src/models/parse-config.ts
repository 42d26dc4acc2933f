// Validating configuration objects where they enter (CLI, JSON files, checkpoints): the first problem
// becomes one line naming the field.
import type { z } from 'zod';
import { UnmaskError } from '../errors.ts';

export function parseConfig<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new UnmaskError(`invalid ${what} config: ${issue.path.join('.') || '(root)'}: ${issue.message}`, `fix ${issue.path.length ? `'${issue.path.join('.')}'` : 'the config'}`, { cause: r.error });
  }
  return r.data;
}
