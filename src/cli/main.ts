// The `unmask` command: a thin shell over the library. Each command group lives in its own file and
// only parses options, calls the typed API, and prints. Problems reach the user as one line,
// `unmask: <problem> — <fix>`, with the stack trace only under --debug.
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { nodeRuntime } from '../engine/runtime-node.ts';
import { UnmaskError, firstLine } from '../errors.ts';
import { setRuntime, withSessionDefaults } from '../engine/runtime.ts';
import { registerBench } from './bench.ts';
import { registerEval } from './eval.ts';
import { registerExport } from './export.ts';
import { registerGenerate } from './generate.ts';
import { registerImport } from './import.ts';
import { registerLogSigma } from './logsigma.ts';
import { Interrupted } from './interrupt.ts';
import { registerServe } from './serve.ts';
import { registerTokenize } from './tokenize.ts';
import { registerTrain } from './train.ts';
import { int } from './parse.ts';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** The `unmask` command and every subcommand, ready to parse (parse errors throw CommanderErrors). */
export function createProgram(): Command {
  const program = new Command('unmask')
    .description('Discrete absorbing diffusion image generation (Unleashing Transformers) on ONNX Runtime.')
    .version(version, '-V, --version', 'print the version')
    .option('--debug', 'show stack traces for errors')
    .option('--threads <n>', 'ONNX Runtime threads per session (default: every core; 1 wastes less on a machine busy with other work)', int('--threads', 1))
    .helpOption('-h, --help', 'show help')
    .helpCommand(false)
    .showSuggestionAfterError()
    // Subcommands made with .command() inherit these two, so every parse error comes back here.
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .hook('preAction', () => {
      const threads = program.opts().threads as number | undefined;
      if (threads) setRuntime(withSessionDefaults(nodeRuntime, { threads }));
    });
  registerGenerate(program);
  registerTrain(program);
  registerTokenize(program);
  registerExport(program);
  registerImport(program);
  registerLogSigma(program); // after registerTrain: adds `train logsigma`
  registerBench(program);
  registerEval(program); // after registerTrain: adds `train features`
  registerServe(program);
  return program;
}

/** Runs the CLI on `argv` (as process.argv: node, script, args…) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  setRuntime(nodeRuntime);
  const debug = argv.includes('--debug');
  const program = createProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return usageError(e, program, argv.slice(2));
    process.stderr.write(formatError(e, debug));
    return e instanceof Interrupted ? e.exitCode : 1;
  }
}

/** Help and version end here too (exit code 0, or 1 for a bare group like `unmask bench`). */
function usageError(e: CommanderError, program: Command, args: string[]): number {
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return e.exitCode;
  const problem = e.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').replace(/\.$/, '');
  process.stderr.write(`unmask: ${problem} — see '${commandPath(program, args)} --help'\n`);
  return 1;
}

/** "unmask bench engine" for args that start `bench engine …`: the deepest command named. */
function commandPath(program: Command, args: string[]): string {
  const names = [program.name()];
  let cmd = program;
  for (const a of args) {
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (!sub) break;
    names.push(sub.name());
    cmd = sub;
  }
  return names.join(' ');
}

/**
 * What the CLI writes for an error: one line for the user, an UnmaskError's problem and fix; anything
 * else is a bug or a failure of the platform, so its first line and a pointer to --debug, which
 * prints the stack and every cause before the line.
 */
export function formatError(e: unknown, debug: boolean): string {
  const out: string[] = [];
  if (debug) {
    for (let c: unknown = e, prefix = ''; c !== undefined; c = c instanceof Error ? c.cause : undefined, prefix = 'caused by: ') {
      out.push(`${prefix}${c instanceof Error ? c.stack : String(c)}`);
    }
  }
  const oneLine = (s: string) => s.trim().replace(/\s*\n\s*/g, ' ');
  const line = e instanceof UnmaskError ? `${oneLine(e.problem)} — ${oneLine(e.fix)}` : `${firstLine(e)} — ${debug ? 'the stack trace is above' : 'rerun with --debug for details'}`;
  out.push(`unmask: ${line}`);
  return `${out.join('\n')}\n`;
}
