// Every number a flag takes is read strictly: decimal digits, the whole string. Before, '--n 0x10'
// sampled 16 images, '--seed ""' seeded with 0 and '--at abc' silently dropped the image.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { fraction, int, intList, nonNegativeNumber, numberList, parseBox, point, positiveNumber, size } from '../../src/cli/parse.ts';
import { cli } from '../helpers/cli.ts';

afterEach(() => vi.restoreAllMocks());

const refuses = (parse: (v: string) => unknown, values: string[]) => {
  for (const v of values) expect(() => parse(v), `'${v}'`).toThrow(InvalidArgumentError);
};

describe('flag parsers', () => {
  it('take whole numbers in decimal digits only', () => {
    const n = int('--n', 1, 256);
    expect([n('16'), n('1'), n('256'), n('016')]).toEqual([16, 1, 256, 16]);
    refuses(n, ['0x10', '', ' 16', '16 ', '+16', '-1', '1e1', '16.0', '0', '257', 'NaN', 'Infinity', '0b11', '1_000']);
    refuses(int('--seed', 0), ['99999999999999999999', '9007199254740993']);
  });

  it('take decimal numbers > 0, with an optional exponent', () => {
    const t = positiveNumber('--temp');
    expect([t('0.9'), t('.5'), t('2e-4'), t('1E3'), t('3')]).toEqual([0.9, 0.5, 2e-4, 1000, 3]);
    refuses(t, ['0x1', '', '0', '-1', 'Infinity', '1e999', ' 1', '1,5', '1.2.3']);
    expect([fraction('--ema')('0'), fraction('--ema')('0.999'), nonNegativeNumber('--guidance')('0'), nonNegativeNumber('--guidance')('4.5')]).toEqual([0, 0.999, 0, 4.5]);
    refuses(fraction('--ema'), ['0x1', '', '1.5', '-0', ' 0.5', 'NaN']);
    refuses(nonNegativeNumber('--guidance'), ['0x1', '', '-1', 'Infinity', ' 2']);
    expect(numberList('--guidance')('0,1.5,3')).toEqual([0, 1.5, 3]);
    refuses(numberList('--guidance'), ['1,,2', '1, 2', '0x1', '', '-1']);
  });

  it('take lists, sizes, points and boxes whole', () => {
    expect(intList('--steps', 1)('4,8,16')).toEqual([4, 8, 16]);
    refuses(intList('--steps', 1), ['4,,8', '4,x', '', '0x4', '4, 8']);
    expect(size('--size')('64x32')).toEqual({ width: 64, height: 32 });
    refuses(size('--size'), ['64', '64x', 'x32', '64x32x1', '0x32', '64*32', '0x10x0x10']);
    expect(point('--at')('16,0')).toEqual({ x: 16, y: 0 });
    refuses(point('--at'), ['abc', '4', 'NaN,NaN', '', '1,2,3', '-4,0', '1.5,2']);
    expect(parseBox('8,8,16,16', '--box')).toEqual({ x: 8, y: 8, w: 16, h: 16 });
    refuses((v) => parseBox(v, '--box'), ['8,8,16', '8,8,0,16', 'a,b,c,d', '8,8,16,16,1']);
  });
});

describe('the CLI refuses loose numbers before doing any work', () => {
  const cases: [string[], RegExp][] = [
    [['sample', '--n', '0x10'], /^unmask: option '--n <count>' argument '0x10' is invalid\. --n takes a whole number from 1 to 256 in decimal digits, got '0x10' — see 'unmask sample --help'\n$/],
    [['sample', '--seed', ''], /argument '' is invalid\. --seed takes a whole number ≥ 0/],
    [['sample', '--temp', '0x1'], /--temp takes a decimal number > 0/],
    [['extend', '--size', '64x64', '--at', 'abc', '--in', 'x.png'], /--at takes x,y in whole pixels, like 16,0, got 'abc'/],
    [['extend', '--size', '64x64', '--at', 'NaN,NaN', '--in', 'x.png'], /--at takes x,y/],
    [['extend', '--size', '64x64', '--at', '4', '--in', 'x.png'], /--at takes x,y/],
    [['extend', '--size', '64x64', '--at', '', '--in', 'x.png'], /--at takes x,y/],
    [['extend', '--size', '0x40'], /--size takes WIDTHxHEIGHT/],
    [['inpaint', '--in', 'x.png', '--box', '1,2,3'], /--box takes x,y,w,h/],
    [['eval', '--model', 'fashion', '--data', 'fashion', '--out', 'r', '--steps', '4,0x8'], /--steps takes whole numbers/],
  ];
  it.each(cases)('%j', async (args, message) => {
    const r = await cli(...args);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
  });

  it('refuses --at without --in instead of ignoring it', async () => {
    const r = await cli('extend', '--size', '64x64', '--at', '16,0');
    expect(r.code).toBe(1);
    expect(r.err).toBe('unmask: --at places the --in image, but no --in was given — add --in IMAGE, or drop --at\n');
  });
});
