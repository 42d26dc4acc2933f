// Validating configuration objects where they enter (CLI, JSON files, checkpoints): the first problem
// becomes one line naming the field.
import type { z } from 'zod';

export function parseConfig<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`invalid ${what} config: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return r.data;
}
