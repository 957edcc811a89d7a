import { Kysely, Migrator, PostgresDialect, type MigrationResultSet } from 'kysely';
import pg from 'pg';
import { migrations } from '../../migrations';
import { AppError } from '../errors';
import { log } from '../log';
import type { Database } from './schema';

export type Db = Kysely<Database>;

// bigint (count(*), bigserial) arrives as a string by default; our counts fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
// A `date` is a calendar day, not an instant: as a JS Date it would shift with the process's zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v);

const pools = new WeakMap<Db, pg.Pool>();

export function createDb(databaseUrl: string, options: { max?: number } = {}): Db {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: options.max ?? 10 });
  // An idle client whose server went away (a restart: 57P01) is an 'error' event on the pool;
  // unhandled, it would end the process. The pool drops that client and connects afresh when
  // next asked; the queries in flight fail on their own and their callers retry.
  const lost = (err: Error) => log.warn({ code: (err as { code?: string }).code, err: err.message }, 'PostgreSQL connection lost; reconnecting on next use');
  pool.on('error', lost);
  // A client that is checked out but between queries (inside a transaction, say) emits its
  // own 'error' when the server goes away; the pool only listens on idle ones.
  pool.on('connect', (client) => client.on('error', lost));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
}

/** SQLSTATE classes and codes that mean "the server is not there", not "the query is wrong". */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', '57P01', '57P02', '57P03', '53300']);

/**
 * Whether an error says that PostgreSQL cannot be reached (stopped, restarting, refusing
 * connections), as opposed to a bug or a bad query. Such a request is answered 503 with
 * Retry-After: the reader may try again, and nothing they asked for was wrong.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; errors?: unknown } | undefined;
  if (!e || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (UNAVAILABLE_CODES.has(code) || code.startsWith('08')) return true;
  // node-postgres reports a connection lost mid-query, or a pool that cannot connect, by message only.
  if (typeof e.message === 'string' && /Connection terminated|connection error|timeout exceeded when trying to connect/i.test(e.message)) return true;
  // Node's AggregateError (a host name resolving to several addresses, all refused).
  return Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every((inner) => isDatabaseUnavailable(inner));
}

/**
 * A client of the same pool as `db`, for what kysely cannot say: `COPY … FROM STDIN` (the
 * import's staging). The caller releases it.
 */
export function rawClient(db: Db): Promise<pg.PoolClient> {
  const pool = pools.get(db);
  if (!pool) throw new Error('rawClient needs a Db made by createDb');
  return pool.connect();
}

/** Creates the database named in the URL when it does not exist yet (docs/promises.md, "Running it"). */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) return;
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  try {
    await client.connect();
  } catch (err) {
    throw new AppError('unavailable', `cannot reach PostgreSQL at ${url.host}: ${(err as Error).message}`);
  }
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`).catch((err: { code?: string }) => {
        // Two processes starting at once: the other one created it first.
        if (err.code !== '42P04') throw err;
      });
    }
  } finally {
    await client.end();
  }
}

export async function migrateToLatest(db: Db): Promise<MigrationResultSet> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const result = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    throw new AppError('internal', `migration ${failed?.migrationName ?? ''} failed: ${String((result.error as Error).message ?? result.error)}`);
  }
  return result;
}
