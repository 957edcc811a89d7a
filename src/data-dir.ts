import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';

/**
 * DATA_DIR must be the same for the server and the CLI: `issues import` copies an issue's
 * images there and the server serves them from there. It defaults to `./data` of whatever
 * folder a command runs in, so an editor who runs the CLI from their issues' folder writes
 * images the server never sees, silently. The server says which DATA_DIR it uses in Redis (one
 * key, written when it starts; both already share REDIS_URL and REDIS_PREFIX), and the commands
 * that write or read images compare it with their own: one GET, no new table.
 */
const key = (redisPrefix: string) => `${redisPrefix}:server:data-dir`;

interface ServerDataDir {
  dataDir: string;
  host: string;
  startedAt: string;
}

/** Called by a process that serves HTTP, once it listens. */
export async function recordServerDataDir(redis: Redis, redisPrefix: string, dataDir: string): Promise<void> {
  const value: ServerDataDir = { dataDir: path.resolve(dataDir), host: os.hostname(), startedAt: new Date().toISOString() };
  await redis.set(key(redisPrefix), JSON.stringify(value));
}

function samePlace(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  return real(a) === real(b);
}

/**
 * A line for the editor when the server on this machine uses another DATA_DIR than this
 * command; undefined when they agree, when no server has said, or when the server runs on
 * another machine (there the paths of a shared volume may differ, and cannot be compared).
 */
export async function dataDirMismatch(redis: Redis, redisPrefix: string, dataDir: string): Promise<string | undefined> {
  let server: ServerDataDir;
  try {
    const raw = await redis.get(key(redisPrefix));
    if (!raw) return undefined;
    server = JSON.parse(raw) as ServerDataDir;
  } catch {
    return undefined; // Redis away or a value of another version: the command goes on without the check
  }
  if (server.host !== os.hostname() || samePlace(server.dataDir, dataDir)) return undefined;
  return (
    `note: the server on this machine (started ${server.startedAt}) keeps issue images in DATA_DIR=${server.dataDir}, ` +
    `but this command uses ${path.resolve(dataDir)}: images written here are not served. ` +
    `Run the command with DATA_DIR=${server.dataDir} (DATA_DIR must be the same for the CLI and the server)`
  );
}
