// Clean stops for long work: the first Ctrl-C (or SIGTERM) sets `requested`, the work finishes its
// step and saves; a second one exits at once. Either way the command exits 130 (128 + SIGINT), so
// `unmask train … && unmask export …` never goes on with a half-trained model.
import { UnmaskError } from '../errors.ts';

/** The work stopped on request after saving; the CLI exits with `exitCode`. */
export class Interrupted extends UnmaskError {
  override name = 'Interrupted';
  readonly exitCode = 130;

  constructor(out: string) {
    super(`stopped on request; the last checkpoint is saved in ${out}`, `continue with the same command and --resume`);
  }
}

export interface StopSignal {
  requested: boolean;
  dispose: () => void;
}

export function stopOnInterrupt(what = 'stopping after this step and saving a checkpoint'): StopSignal {
  const stop: StopSignal = { requested: false, dispose: () => {} };
  const handler = () => {
    if (stop.requested) process.exit(130);
    stop.requested = true;
    process.stderr.write(`\nunmask: ${what} (Ctrl-C again to quit at once)\n`);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  stop.dispose = () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
  return stop;
}
