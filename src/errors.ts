// The one error type for whatever a user can get wrong: bad input, a missing or damaged file, a model
// that cannot do what was asked. It carries the problem and the fix apart, so the CLI prints
// `unmask: <problem> — <fix>` from its fields and a program can show or test either; the error that
// caused it, if any, stays in `cause` (the CLI prints it under --debug). Errors that are not
// UnmaskErrors are bugs or failures of the platform, and the CLI says so.
export class UnmaskError extends Error {
  override name = 'UnmaskError';

  constructor(
    /** What is wrong, naming the file, flag or value: "runs/x: no checkpoint here". */
    readonly problem: string,
    /** What to do about it: "pass a directory made by 'unmask train prior'". */
    readonly fix: string,
    options?: { cause?: unknown },
  ) {
    super(`${problem} — ${fix}`, options);
  }
}

/** The first line of an error's message, for quoting another library's error inside ours. */
export function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).trim().split('\n')[0];
}
