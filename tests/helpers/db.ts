import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { sql } from 'kysely';
import { createDb, ensureDatabase, migrateToLatest, type Db } from '../../src/db/database';

const SERVER = process.env.TEST_DATABASE_SERVER ?? 'postgres://postgres@127.0.0.1:5432';
const MIGRATIONS = path.join(__dirname, '../../migrations');

export interface TestDb {
  db: Db;
  url: string;
  drop(): Promise<void>;
}

/**
 * The template every test database is cloned from: migrated once per server and per content of
 * migrations/ (its name carries their hash, so a changed or added migration gets a template of
 * its own and an old one is never used). Cloning (CREATE DATABASE … TEMPLATE) is a file copy,
 * some 50 ms; running the migrations was most of a second per test file.
 */
function templateName(): string {
  const hash = createHash('sha256');
  for (const file of fs.readdirSync(MIGRATIONS).sort()) hash.update(file).update(fs.readFileSync(path.join(MIGRATIONS, file)));
  return `broadsheet_template_${hash.digest('hex').slice(0, 16)}`;
}

async function withAdmin<T>(server: string, work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: `${server}/postgres` });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}

const templates = new Map<string, Promise<string>>();

/** The migrated template on `server`, made by whichever test process asks first (an advisory lock orders them). */
function ensureTemplate(server: string): Promise<string> {
  let made = templates.get(server);
  if (!made) {
    made = withAdmin(server, async (admin) => {
      const name = templateName();
      await admin.query('SELECT pg_advisory_lock(hashtext($1))', [name]);
      try {
        const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate', [name]);
        if (found.rowCount === 0) {
          // A half-made one (a run killed mid-migration) is made again.
          await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
          await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
          const db = createDb(`${server}/${name}`, { max: 1 });
          try {
            await migrateToLatest(db);
          } finally {
            await db.destroy();
          }
          // Marked last: only a fully migrated template is ever cloned.
          await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} WITH IS_TEMPLATE true`);
        }
        return name;
      } finally {
        await admin.query('SELECT pg_advisory_unlock(hashtext($1))', [name]);
      }
    });
    made.catch(() => templates.delete(server));
    templates.set(server, made);
  }
  return made;
}

/** A fresh, migrated database of its own for one test file; `drop()` removes it. */
export async function createTestDb(server: string = SERVER): Promise<TestDb> {
  const name = `broadsheet_test_${randomBytes(6).toString('hex')}`;
  const url = `${server}/${name}`;
  const template = await ensureTemplate(server);
  await withAdmin(server, (admin) => admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(template)}`));
  const db = createDb(url, { max: 5 });
  // The clone would share the template's instance id; jobs name it, and two test databases on
  // one Redis must tell their jobs apart as two deployments do.
  await sql`UPDATE instance SET id = gen_random_uuid()`.execute(db);
  return {
    db,
    url,
    async drop() {
      await db.destroy();
      await withAdmin(server, (admin) => admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`));
    },
  };
}

/** A database that exists but has no tables (the migrations' own tests start from it). */
export async function createEmptyTestDb(server: string = SERVER): Promise<TestDb> {
  const name = `broadsheet_test_${randomBytes(6).toString('hex')}`;
  const url = `${server}/${name}`;
  await ensureDatabase(url);
  const db = createDb(url, { max: 5 });
  return {
    db,
    url,
    async drop() {
      await db.destroy();
      await withAdmin(server, (admin) => admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`));
    },
  };
}
