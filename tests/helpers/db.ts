import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb, ensureDatabase, migrateToLatest, type Db } from '../../src/db/database';

const SERVER = process.env.TEST_DATABASE_SERVER ?? 'postgres://postgres@127.0.0.1:5432';

export interface TestDb {
  db: Db;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database of its own for one test file; `drop()` removes it. */
export async function createTestDb(server: string = SERVER): Promise<TestDb> {
  const name = `broadsheet_test_${randomBytes(6).toString('hex')}`;
  const url = `${server}/${name}`;
  await ensureDatabase(url);
  const db = createDb(url, { max: 5 });
  await migrateToLatest(db);
  return {
    db,
    url,
    async drop() {
      await db.destroy();
      const admin = new pg.Client({ connectionString: `${server}/postgres` });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      await admin.end();
    },
  };
}
