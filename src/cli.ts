import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { isAppError } from './errors';
import { cliContext, type CliContext } from './cli/context';
import { registerListCommands } from './cli/lists';
import { registerSubscriberCommands } from './cli/subscribers';
import { registerIssueCommands } from './cli/issues';
import type { ListSource } from './issues/compile-file';
import { registerScheduleCommands } from './cli/schedules';
import { registerEditorCommands } from './cli/editors';

// The server and the compiler load mjml, express and the queue (about a second); commands that
// need none of them (validate, lists, subscribers) stay quick by loading them only when used.
// The issue validator (ajv and the schema) is loaded by the commands that read an issue file.
const validation = () => import('./issues/validate.js');
const runProcess: typeof import('./main.js').runProcess = async (...args) => {
  await (await import('./main.js')).runProcess(...args);
  // Stopped (SIGTERM, every step of the stop bounded in main.ts): the process ends now. A client
  // still reconnecting to a dependency that is gone (ioredis to a stopped Redis) would otherwise
  // keep a stopped worker alive for good, and its supervisor waiting.
  process.exit();
};

/** A user error that has already been explained on stderr: exit with this code, print nothing more. */
class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('broadsheet')
    .description('Self-hosted email newsletters: issues as JSON, responsive email, queued delivery.')
    .version(packageVersion(), '-V, --version', 'print the version of Broadsheet')
    .showHelpAfterError()
    .exitOverride()
    // Before the subcommands are made: they copy it. What process.stdout/stderr were, unless a test says otherwise.
    .configureOutput({ writeOut: (text) => void ctx.io.stdout.write(text), writeErr: (text) => void ctx.io.stderr.write(text) });

  program
    .command('start')
    .description('migrations, HTTP server and queue workers in one process (and the inbound mail listener when BOUNCE_DOMAIN is set)')
    .action(() => {
      const config = ctx.config();
      return runProcess(config, { http: true, workers: true, inbound: !!config.bounceDomain });
    });
  program
    .command('serve')
    .description('the HTTP server alone')
    .action(() => runProcess(ctx.config(), { http: true, workers: false }));
  program
    .command('worker')
    .description('the queue workers alone (run as many as the load needs)')
    .action(() => runProcess(ctx.config(), { http: false, workers: true }));
  program
    .command('inbound')
    .description('the inbound SMTP listener alone: bounces, complaints and mailto unsubscribes for BOUNCE_DOMAIN, on INBOUND_PORT')
    .action(() => runProcess(ctx.config(), { http: false, workers: false, inbound: true }));
  program
    .command('migrate')
    .description('apply database migrations')
    .action(async () => {
      const deps = await ctx.connect();
      await deps.close();
      ctx.out('database is up to date');
    });

  program
    .command('validate <file>')
    .description('check an issue file; one line per problem, JSON pointer first')
    .action(async (file: string) => {
      const { validateIssueFile, formatProblems } = await validation();
      const result = await validateIssueFile(file);
      if (!result.ok) {
        ctx.err(formatProblems(result.problems));
        throw new ExitCode(1);
      }
      ctx.out(`${file}: valid`);
    });

  program
    .command('render <file>')
    .description('write DIR/index.mjml, DIR/index.html and DIR/index.txt')
    .requiredOption('--out <dir>', 'output directory')
    .action(async (file: string, opts: { out: string }) => {
      const { compileIssueFile } = await import('./issues/compile-file.js');
      const compiled = await compileIssueFile(file, { publicUrl: ctx.config().publicUrl, listSource: databaseListSource(ctx) });
      if (!compiled.ok) {
        ctx.err((await validation()).formatProblems(compiled.problems));
        throw new ExitCode(1);
      }
      await fs.mkdir(opts.out, { recursive: true });
      await fs.writeFile(path.join(opts.out, 'index.mjml'), compiled.rendered.mjml);
      await fs.writeFile(path.join(opts.out, 'index.html'), compiled.html);
      await fs.writeFile(path.join(opts.out, 'index.txt'), compiled.text);
      ctx.out(`wrote ${path.join(opts.out, 'index.{mjml,html,txt}')} (${(Buffer.byteLength(compiled.html) / 1024).toFixed(1)} KB HTML)`);
    });

  program
    .command('preview <file>')
    .description('a local page with the email at phone and desktop widths, reloading on change')
    .option('--port <port>', 'port', '3001')
    .action(async (file: string, opts: { port: string }) => {
      const { startPreviewServer } = await import('./issues/preview.js');
      const server = await startPreviewServer(file, Number(opts.port), { listSource: databaseListSource(ctx) });
      ctx.err(`previewing ${file} at ${server.url} (Ctrl-C to stop)`);
      await new Promise(() => {}); // runs until interrupted
    });

  registerListCommands(program, ctx);
  registerSubscriberCommands(program, ctx);
  registerIssueCommands(program, ctx);
  // After the sender's commands: schedule and unschedule join their `issues` group.
  registerScheduleCommands(program, ctx);
  registerEditorCommands(program, ctx);
  return program;
}

/**
 * The version in package.json, found from this file: src/cli.ts under the tests, dist/src/cli.js
 * when installed, so the nearest package.json up the tree named broadsheet.
 */
function packageVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'broadsheet' && pkg.version) return pkg.version;
    } catch {
      // not here: one folder up
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

/**
 * A reader that goes away (`broadsheet … | head -1`) closes the pipe: the next write fails
 * with EPIPE, which Node emits on process.stdout and, unheard, ends the process with a stack
 * trace. What is left to print has nobody to read it, so it is dropped; the command itself
 * finishes its work (an import is not cut short because its report found no reader) and
 * keeps its exit code.
 */
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
    throw err;
  });
}

/**
 * The list's name and contact line for `render` and `preview`, from the database when it
 * answers within 2 s, asked once per list. Both commands work offline: then they say so,
 * and the email shows placeholders.
 */
function databaseListSource(ctx: CliContext): ListSource {
  const asked = new Map<string, ReturnType<ListSource>>();
  const ask: ListSource = async (slug) => {
    const { lookUpList } = await import('./lists/lookup.js');
    const found = await lookUpList(ctx.config().databaseUrl, slug);
    if ('missing' in found) {
      ctx.err(`note: ${found.missing}; the list's name and contact line are placeholders (only the issue's own list slug and language are used)`);
      return found;
    }
    const { name, language, contact } = found.list;
    return { list: { slug, name, language, contact } };
  };
  return (slug) => {
    const answer = asked.get(slug) ?? ask(slug);
    asked.set(slug, answer);
    return answer;
  };
}

/**
 * Runs one command (`argv` as process.argv has it) and gives its exit code: 0, or for a user
 * error one line on stderr and 1, or for a bug 2. The binary's main() and the tests that run a
 * command inside their own process share it.
 */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  try {
    await buildProgram(ctx).parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof ExitCode) return err.code;
    if (err instanceof CommanderError) return err.exitCode; // commander has printed the usage error already
    if (isAppError(err)) {
      ctx.err(`error: ${err.message}`);
      return 1;
    }
    ctx.err(`error: ${(err as Error)?.message ?? String(err)} (this is a bug in Broadsheet; please report it)`);
    if (ctx.io.env.DEBUG) ctx.io.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    return 2;
  }
}

/** The entry point of the `broadsheet` binary. User errors: one line on stderr, exit 1. */
export async function main(argv: string[]): Promise<void> {
  quietOnClosedPipe(process.stdout);
  quietOnClosedPipe(process.stderr);
  const code = await runCli(argv, cliContext());
  if (code !== 0) process.exitCode = code;
}
