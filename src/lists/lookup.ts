import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database, List } from '../db/schema';
import { findListBySlug } from './repository';

export type ListLookupResult = { list: List } | { missing: string };

/**
 * A list record for the editor's offline commands (`render`, `preview`): they work without a
 * database, so an unreachable one costs at most `timeoutMs` and is a reason to fall back, not
 * an error. Nothing is created or migrated: this only reads.
 */
export async function lookUpList(databaseUrl: string, slug: string, timeoutMs = 2000): Promise<ListLookupResult> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  // A client the server drops while idle would otherwise crash the process; the pool is closed below anyway.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    const list = await findListBySlug(db, slug);
    return list ? { list } : { missing: `the database has no list "${slug}"` };
  } catch (err) {
    return { missing: `the database could not be read (${(err as Error).message || (err as { code?: string }).code || 'no answer'})` };
  } finally {
    await db.destroy();
  }
}
