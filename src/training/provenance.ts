// How a training run came to be, for its model card: the seed it started with and every command that
// trained it (the one that started it, then each resume). Kept in the checkpoint, so a card written
// after `--resume` still names the run's own seed and first command, not the resume's defaults.
import { z } from 'zod';

export interface Provenance {
  /** The seed the run started with; null when the checkpoint predates this record (then so does its first command). */
  seed: number | null;
  /** The commands that trained the run, in order; the first started it unless `seed` is null. */
  commands: string[];
  /** The model whose weights the run started from (`--init`, fine-tuning), if any. */
  init?: string;
}

/** The fields a checkpoint's state.json `extra` keeps (absent in runs saved before this record). */
export const provenanceFields = {
  seed: z.number().int().min(0).nullable().optional(),
  commands: z.array(z.string()).optional(),
  init: z.string().optional(),
};

/** The provenance after this process: a new run's own, or a resumed run's with this command appended. */
export function provenance(o: { seed: number; command: string; init?: string }, saved?: { seed?: number | null; commands?: string[]; init?: string }): Provenance {
  if (!saved) return { seed: o.seed, commands: [o.command], ...(o.init ? { init: o.init } : {}) };
  const before = saved.commands ?? [];
  // Resuming again with the same command (after a stop or a crash) is one line of the card, not many.
  const commands = before.at(-1) === o.command ? before : [...before, o.command];
  return { seed: saved.seed ?? null, commands, ...(saved.init ? { init: saved.init } : {}) };
}

/** The card's seed sentence and command line(s); a fine-tuned run's first line names the weights it started from. */
export function provenanceCard(p: Provenance): { seed: string; commands: string } {
  const made = commandLines(p);
  if (!p.init) return made;
  return { ...made, commands: `- Started from the prior weights of ${p.init} (fine-tuning: a fresh optimizer, schedule and step count; that model's card says how it was trained).\n${made.commands}` };
}

function commandLines(p: Provenance): { seed: string; commands: string } {
  if (p.seed === null) {
    return {
      seed: 'Seed not recorded (the run was started by an earlier version of unmask).',
      commands: `- Command that started the run: not recorded; resumed with ${p.commands.map((c) => `\`${c}\``).join(', then ')}`,
    };
  }
  if (p.commands.length === 1) return { seed: `Seed ${p.seed}.`, commands: `- Command: \`${p.commands[0]}\`` };
  return {
    seed: `Seed ${p.seed}.`,
    commands: `- Commands (the first started the run, each later one resumed it):\n${p.commands.map((c, i) => `  ${i + 1}. \`${c}\``).join('\n')}`,
  };
}
