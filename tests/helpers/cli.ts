import { execFile, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { runCli } from '../../src/cli';
import { cliContext } from '../../src/cli/context';

/**
 * Two ways to run a `broadsheet` command, for the two things a CLI test can be about.
 *
 * - broadsheetProcess: the compiled binary (bin/broadsheet.js → dist/, built by `npm test`'s
 *   tsc) in a process of its own, as a user runs it. For what only a process shows: its exit
 *   status, what reaches its stdout and stderr (no stack trace, no warning), pipes, terminals,
 *   paths that differ between src/ and dist/ (templates, schema, package.json). Each costs a
 *   Node start and the CLI's modules: 0.3 to 0.8 s.
 * - broadsheetHere: the same command in this process, through runCli (the parsing and the
 *   error-to-exit-code mapping the binary's main() uses), with its environment and captured
 *   output. For what a command does and says: some milliseconds.
 */

export const BIN = path.resolve(__dirname, '../../bin/broadsheet.js');
const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `node bin/broadsheet.js ARGS` with `env` over this process's environment. */
export async function broadsheetProcess(args: string[], env: NodeJS.ProcessEnv = {}, options: { cwd?: string } = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run('node', [BIN, ...args], { env: { ...process.env, ...env }, cwd: options.cwd });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

class Capture extends Writable {
  text = '';
  readonly isTTY = false;
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** The command ARGS run in this process, with `env` over this process's environment (as the binary would have it). */
export async function broadsheetHere(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(['node', 'broadsheet', ...args], cliContext({ env: { ...process.env, ...env }, stdout, stderr }));
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Stops a command started with spawn (SIGTERM) and waits until it has exited; one that already ended is left. */
export async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
