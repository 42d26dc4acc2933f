// Option parsers for commander. Every value is read strictly: decimal digits only, the whole string
// (no hex '0x10', no empty '' read as 0, no '1e3' for a count, no spaces), or the flag is refused with
// a message saying what it takes.
import { InvalidArgumentError } from 'commander';

const WHOLE = /^\d+$/;
const DECIMAL = /^(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** A whole number from the digits of `v`, or null. */
function wholeNumber(v: string): number | null {
  if (!WHOLE.test(v)) return null;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : null;
}

function range(min: number, max: number): string {
  return max < Number.MAX_SAFE_INTEGER ? `from ${min} to ${max}` : `≥ ${min}`;
}

export function int(name: string, min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    const n = wholeNumber(v);
    if (n === null || n < min || n > max) throw new InvalidArgumentError(`${name} takes a whole number ${range(min, max)} in decimal digits, got '${v}'.`);
    return n;
  };
}

export function positiveNumber(name: string): (v: string) => number {
  return (v) => {
    const n = decimal(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} takes a decimal number > 0 (like 0.5 or 2e-4), got '${v}'.`);
    return n;
  };
}

/** "a,b,c" of whole numbers. */
export function intList(name: string, min: number): (v: string) => number[] {
  return (v) => {
    const parts = v.split(',').map((p) => wholeNumber(p));
    if (parts.some((n) => n === null || n < min)) throw new InvalidArgumentError(`${name} takes whole numbers ≥ ${min} separated by commas, like 4,8,16, got '${v}'.`);
    return parts as number[];
  };
}

/** A decimal number from the whole of `v` (digits, a point, an exponent), or NaN. */
function decimal(v: string): number {
  return DECIMAL.test(v) ? Number(v) : Number.NaN;
}

/** A number in [0, max]. */
export function fraction(name: string, max = 1): (v: string) => number {
  return (v) => {
    const n = decimal(v);
    if (!(n >= 0 && n <= max)) throw new InvalidArgumentError(`${name} takes a decimal number from 0 to ${max}, got '${v}'.`);
    return n;
  };
}

export function nonNegativeNumber(name: string): (v: string) => number {
  return (v) => {
    const n = decimal(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} takes a decimal number ≥ 0, got '${v}'.`);
    return n;
  };
}

/** "a,b,c" of numbers ≥ 0. */
export function numberList(name: string): (v: string) => number[] {
  return (v) => {
    const parts = v.split(',').map(decimal);
    if (!parts.every(Number.isFinite)) throw new InvalidArgumentError(`${name} takes decimal numbers ≥ 0 separated by commas, like 0,1.5,3, got '${v}'.`);
    return parts;
  };
}

/** `count` whole numbers ≥ 0 joined by `sep`, or null. */
function wholeTuple(v: string, sep: string, count: number): number[] | null {
  const parts = v.split(sep).map(wholeNumber);
  return parts.length === count && parts.every((n) => n !== null) ? (parts as number[]) : null;
}

/** "WIDTHxHEIGHT" in pixels, each ≥ 1. */
export function size(name: string): (v: string) => { width: number; height: number } {
  return (v) => {
    const p = wholeTuple(v.toLowerCase(), 'x', 2);
    if (!p || p[0] < 1 || p[1] < 1) throw new InvalidArgumentError(`${name} takes WIDTHxHEIGHT in pixels, like 64x32, got '${v}'.`);
    return { width: p[0], height: p[1] };
  };
}

/** "x,y" in pixels, each ≥ 0. */
export function point(name: string): (v: string) => { x: number; y: number } {
  return (v) => {
    const p = wholeTuple(v, ',', 2);
    if (!p) throw new InvalidArgumentError(`${name} takes x,y in whole pixels, like 16,0, got '${v}'.`);
    return { x: p[0], y: p[1] };
  };
}

/** "x,y,w,h" in pixels; w and h ≥ 1. Throws a plain message (the caller names the flag). */
export function parseBox(v: string, name: string): { x: number; y: number; w: number; h: number } {
  const p = wholeTuple(v, ',', 4);
  if (!p || p[2] < 1 || p[3] < 1) throw new InvalidArgumentError(`${name} takes x,y,w,h in whole pixels (w, h ≥ 1), like 8,8,16,16, got '${v}'.`);
  return { x: p[0], y: p[1], w: p[2], h: p[3] };
}

export function box(name: string): (v: string) => { x: number; y: number; w: number; h: number } {
  return (v) => parseBox(v, name);
}

export type PixelSize = { width: number; height: number };
