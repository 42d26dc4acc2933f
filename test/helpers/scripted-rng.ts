// Feeding a fixture's random choices to code that draws them from an Rng: a ScriptedRng returns given
// uniforms from next(), which every draw the trainers make goes through (int, permutation, the mask
// test next() < t/T). The fixture's own draws (made by PyTorch) become these uniforms, so the test
// depends on which draws the code makes and in what order, never on matching random generators.
import { Rng } from '../../src/engine/rng.ts';

export class ScriptedRng extends Rng {
  private queue: number[] = [];
  private used = 0;

  constructor() {
    super(0);
  }

  /** Appends uniforms in [0, 1) to be returned in order. */
  push(...values: number[]): this {
    this.queue.push(...values);
    return this;
  }

  /** The uniform u with Math.floor(u·n) = i (the middle of i's interval, so ⌈u·n⌉ − 1 = i too). */
  pushIndex(i: number, n: number): this {
    return this.push((i + 0.5) / n);
  }

  /** One uniform per position, below any masking probability t/T > 0 where masked, above any t/T < 1 elsewhere. */
  pushMask(masked: ArrayLike<number | boolean>): this {
    for (let i = 0; i < masked.length; i++) this.queue.push(masked[i] ? 0 : 1 - 2 ** -53);
    return this;
  }

  override next(): number {
    if (this.used === this.queue.length) throw new Error(`ScriptedRng: draw ${this.used + 1} asked for, ${this.queue.length} scripted — the code draws more (or in another order) than the test assumes`);
    return this.queue[this.used++];
  }

  override nextU32(): number {
    throw new Error('ScriptedRng: nextU32 is not scripted — the code draws raw bits where the test assumes uniforms');
  }

  /** Scripted uniforms not drawn yet (0 when the code drew exactly what the test scripted). */
  remaining(): number {
    return this.queue.length - this.used;
  }
}
