// Clean stops for long work: the first Ctrl-C (or SIGTERM) sets `requested`, the work finishes its
// step and saves; a second one exits at once.
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
