import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { isDatabaseUnavailable, type Db } from '../db/database';
import { isAppError } from '../errors';
import { unsubscribe } from './preferences';
import type { RequestMeta } from './service';

/**
 * Unsubscribes that arrived while PostgreSQL was down. An unsubscribe is never lost: the
 * signed link names the subscription by itself (no database needed to check it), so the
 * request is written to a file under `DATA_DIR/kept-unsubscribes/` and applied when the
 * database answers again, with the time it was made. A file rather than Redis: it survives a
 * flushed or unreachable Redis, and the process that took the request is the one that applies
 * it (every HTTP process runs `startKeptUnsubscribes`).
 */

export interface KeptUnsubscribe {
  subscriptionId: string;
  method: 'one-click' | 'page';
  at: string;
  ip?: string;
  userAgent?: string;
}

export function keptDir(dataDir: string): string {
  return path.join(dataDir, 'kept-unsubscribes');
}

/** Writes the request durably (temporary file, fsync, rename): a crash leaves it whole or absent. */
export async function keepUnsubscribe(dataDir: string, kept: KeptUnsubscribe): Promise<void> {
  const dir = keptDir(dataDir);
  await fs.mkdir(dir, { recursive: true });
  // One file per request, named by time: applied in the order they came.
  const name = `${kept.at.replace(/[^0-9]/g, '')}-${randomBytes(4).toString('hex')}.json`;
  const temporary = path.join(dir, `.${name}.tmp`);
  const file = await fs.open(temporary, 'w');
  try {
    await file.writeFile(JSON.stringify(kept));
    await file.sync();
  } finally {
    await file.close();
  }
  await fs.rename(temporary, path.join(dir, name));
}

/**
 * Applies every kept request, oldest first; returns how many were applied. Stops at the first
 * that the database still cannot take (the rest wait for the next round). A request for a
 * subscription deleted meanwhile, or a file that is not one of ours, is dropped.
 */
export async function applyKeptUnsubscribes(db: Db, dataDir: string): Promise<number> {
  const dir = keptDir(dataDir);
  const names = (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
  let applied = 0;
  for (const name of names) {
    const file = path.join(dir, name);
    let kept: KeptUnsubscribe | undefined;
    try {
      kept = JSON.parse(await fs.readFile(file, 'utf8')) as KeptUnsubscribe;
    } catch {
      kept = undefined;
    }
    if (kept && typeof kept.subscriptionId === 'string') {
      const meta: RequestMeta & { method: KeptUnsubscribe['method']; at: Date } = {
        method: kept.method,
        at: new Date(kept.at),
        ip: kept.ip,
        userAgent: kept.userAgent,
      };
      try {
        await unsubscribe({ db }, kept.subscriptionId, meta);
        applied++;
      } catch (err) {
        if (isDatabaseUnavailable(err)) return applied;
        // not_found: the subscription was erased since; anything else would fail forever.
        if (!isAppError(err)) throw err;
      }
    }
    await fs.rm(file, { force: true });
  }
  return applied;
}

/**
 * Applies kept requests every `intervalMs`, one round at a time. Returns the stopper. A round
 * that fails (a disk error) is logged and the next one tries again.
 */
export function startKeptUnsubscribes(
  db: Db,
  dataDir: string,
  intervalMs: number,
  log: { warn: (obj: object, msg: string) => void; info: (obj: object, msg: string) => void },
): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(async () => {
      try {
        const n = await applyKeptUnsubscribes(db, dataDir);
        if (n > 0) log.info({ applied: n }, 'kept unsubscribes applied');
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'kept unsubscribes: round failed');
      }
    });
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
