import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors';
import type { CompileMjml } from './mjml';

/**
 * MJML in a child process, for the long-running worker. MJML and what it loads take some 65 MB,
 * and one compile of a newsletter allocates as much again; a worker that compiled in its own
 * heap would hold that for as long as it runs, next to a sender that needs a few MB. The
 * child starts on the first compile (a send compiles a handful of variants, system mail four
 * templates) and exits when it has been idle for `idleMs`.
 */
export interface MjmlProcess {
  compile: CompileMjml;
  close(): void;
}

interface Reply {
  id: number;
  html?: string;
  error?: { message: string; details?: unknown };
}

/**
 * The child's script: the one next to this file when built (.js). Under the test runner this
 * file is the .ts source, and the child is the built one in dist/ (`npm test` compiles first):
 * the source through @swc-node/register would load TypeScript's compiler in every child, 0.5 s
 * of CPU a start. Without a build, the source.
 */
function childScript(): { file: string; execArgv: string[] } {
  if (path.extname(__filename) === '.js') return { file: path.join(__dirname, 'mjml-child.js'), execArgv: [] };
  const built = path.resolve(__dirname, '../../dist/src/issues/mjml-child.js');
  if (existsSync(built)) return { file: built, execArgv: [] };
  return { file: path.join(__dirname, 'mjml-child.ts'), execArgv: ['-r', '@swc-node/register'] };
}

export function mjmlProcess({ idleMs = 30_000, timeoutMs = 60_000 } = {}): MjmlProcess {
  let child: ChildProcess | undefined;
  let nextId = 0;
  const waiting = new Map<number, { from: ChildProcess; resolve(html: string): void; reject(err: Error): void; timer: NodeJS.Timeout }>();
  let idle: NodeJS.Timeout | undefined;

  /** Fails what `from` was asked: a new child may already be answering later requests. */
  const failAll = (from: ChildProcess, err: Error) => {
    for (const [id, w] of waiting) {
      if (w.from !== from) continue;
      clearTimeout(w.timer);
      w.reject(err);
      waiting.delete(id);
    }
  };
  const stop = () => {
    clearTimeout(idle);
    child?.kill();
    child = undefined;
  };
  const start = (): ChildProcess => {
    const script = childScript();
    const c = fork(script.file, [], {
      execArgv: script.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    c.on('message', (reply: Reply) => {
      const w = waiting.get(reply.id);
      if (!w) return;
      waiting.delete(reply.id);
      clearTimeout(w.timer);
      if (reply.error) w.reject(new AppError('internal', reply.error.message, reply.error.details));
      else w.resolve(reply.html!);
      if (waiting.size === 0) idle = setTimeout(stop, idleMs).unref();
    });
    c.once('exit', (code, signal) => {
      if (child === c) child = undefined;
      failAll(c, new AppError('internal', `the MJML compiler process exited (${code ?? signal}) before it answered`));
    });
    c.on('error', (err) => failAll(c, new AppError('internal', `the MJML compiler process failed: ${err.message}`)));
    // An idle child must not keep the worker alive.
    c.unref();
    c.channel?.unref();
    return c;
  };

  return {
    compile(source, options) {
      clearTimeout(idle);
      const c = (child ??= start());
      const id = nextId++;
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new AppError('internal', `the MJML compiler did not answer within ${timeoutMs} ms`));
          if (child === c) stop(); // a stuck compile: the next one gets a fresh process
        }, timeoutMs);
        waiting.set(id, { from: c, resolve, reject, timer });
        c.send({ id, source, options });
      });
    },
    close: stop,
  };
}
