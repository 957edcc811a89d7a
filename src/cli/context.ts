import type { Command } from 'commander';
import { loadConfig, type Config } from '../config';
import type { Connections } from '../connect';

/** A stream the CLI writes to: the process's stdout or stderr, or a test's capture. */
export type CliStream = NodeJS.WritableStream & { destroyed?: boolean; isTTY?: boolean };

/**
 * What the CLI reads its settings from and writes to: the process's own, or, for a test that
 * runs a command in its own process, an environment and two captures of its choosing.
 */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: CliStream;
  stderr: CliStream;
}

export interface CliContext {
  /** Where the settings come from and the output goes (commander's help and usage errors too). */
  io: CliIo;
  config(): Config;
  /** Connects to PostgreSQL (migrated) and Redis; call `close()` when done. */
  connect(): Promise<Connections>;
  /** Runs `work` with a connection that is closed afterwards, whatever happens. */
  withConnection<T>(work: (deps: Connections) => Promise<T>): Promise<T>;
  /** Normal output (stdout). */
  out(line: string): void;
  /** Progress and notices (stderr), so stdout stays clean for pipes (CSV, JSON). */
  err(line: string): void;
}

export function cliContext(io: CliIo = { env: process.env, stdout: process.stdout, stderr: process.stderr }): CliContext {
  let config: Config | undefined;
  const ctx: CliContext = {
    io,
    config: () => (config ??= loadConfig(io.env)),
    async connect() {
      // Loaded on use: the database and queue clients cost a second that `validate` need not pay.
      const { connect } = await import('../connect.js');
      const { migrateToLatest } = await import('../db/database.js');
      const deps = await connect(ctx.config());
      await migrateToLatest(deps.db);
      return deps;
    },
    async withConnection(work) {
      const deps = await ctx.connect();
      try {
        return await work(deps);
      } finally {
        await deps.close();
      }
    },
    // A closed pipe (`| head`) destroys the stream: what is left is dropped, not written into an error.
    out: (line) => void (io.stdout.destroyed || io.stdout.write(line + '\n')),
    err: (line) => void (io.stderr.destroyed || io.stderr.write(line + '\n')),
  };
  return ctx;
}

/** Every subcommand module registers itself on the program with this shape. */
export type RegisterCommands = (program: Command, ctx: CliContext) => void;
