// Option parsers for commander: each rejects a bad value with a message naming the option.
import { InvalidArgumentError } from 'commander';

export function int(name: string, min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a whole number${max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : ` ≥ ${min}`}, got '${v}'.`);
    }
    return n;
  };
}

export function positiveNumber(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a number > 0, got '${v}'.`);
    return n;
  };
}

/** "a,b,c" of whole numbers. */
export function intList(name: string, min: number): (v: string) => number[] {
  return (v) => v.split(',').map((p) => int(name, min)(p.trim()));
}

/** A number in [0, max]. */
export function fraction(name: string, max = 1): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > max) throw new InvalidArgumentError(`${name} must be a number from 0 to ${max}, got '${v}'.`);
    return n;
  };
}

export function nonNegativeNumber(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number ≥ 0, got '${v}'.`);
    return n;
  };
}

/** "a,b,c" of numbers ≥ 0. */
export function numberList(name: string): (v: string) => number[] {
  return (v) => v.split(',').map((p) => nonNegativeNumber(name)(p.trim()));
}
