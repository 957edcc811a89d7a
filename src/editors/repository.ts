import { sql } from 'kysely';
import type { Db } from '../db/database';
import type { Editor, EditorRole, EditorSession } from '../db/schema';

/** Editors, their sign-in links, sessions and API tokens: plain queries, the database first. */

export function findEditorByEmail(db: Db, email: string): Promise<Editor | undefined> {
  return db
    .selectFrom('editors')
    .selectAll()
    .where(sql<string>`lower(email)`, '=', email.trim().toLowerCase())
    .executeTakeFirst();
}

export function findEditor(db: Db, id: string): Promise<Editor | undefined> {
  return db.selectFrom('editors').selectAll().where('id', '=', id).executeTakeFirst();
}

export function allEditors(db: Db): Promise<Editor[]> {
  return db.selectFrom('editors').selectAll().orderBy('created_at').orderBy('email').execute();
}

export async function insertEditor(db: Db, email: string, role: EditorRole): Promise<Editor | undefined> {
  // ON CONFLICT on the lower(email) index: two "add" of one address give one editor, not an error 500.
  return db
    .insertInto('editors')
    .values({ email: email.trim(), role })
    .onConflict((oc) => oc.expression(sql`lower(email)`).doNothing())
    .returningAll()
    .executeTakeFirst();
}

export async function deleteEditor(db: Db, id: string): Promise<void> {
  await db.deleteFrom('editors').where('id', '=', id).execute();
}

export async function countOwners(db: Db): Promise<number> {
  const row = await db.selectFrom('editors').select(db.fn.countAll<string>().as('n')).where('role', '=', 'owner').executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function insertSignInLink(db: Db, editorId: string, expiresAt: Date): Promise<string> {
  const row = await db.insertInto('editor_sign_in_links').values({ editor_id: editorId, expires_at: expiresAt }).returning('id').executeTakeFirstOrThrow();
  return row.id;
}

export function findSignInLink(db: Db, id: string) {
  return db
    .selectFrom('editor_sign_in_links as l')
    .innerJoin('editors as e', 'e.id', 'l.editor_id')
    .select(['l.id', 'l.expires_at', 'l.used_at', 'e.id as editor_id', 'e.email', 'e.role'])
    .where('l.id', '=', id)
    .executeTakeFirst();
}

/**
 * Marks a link used, once: the UPDATE's condition is the lock, so two POSTs of one link (a
 * double click, a replay) sign in at most one browser.
 */
export async function useSignInLink(db: Db, id: string, now: Date): Promise<string | undefined> {
  const row = await db
    .updateTable('editor_sign_in_links')
    .set({ used_at: now })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returning('editor_id')
    .executeTakeFirst();
  return row?.editor_id;
}

export async function insertSession(
  db: Db,
  session: { editorId: string; tokenHash: string; expiresAt: Date; now: Date; ip?: string; userAgent?: string },
): Promise<void> {
  await db
    .insertInto('editor_sessions')
    .values({
      editor_id: session.editorId,
      token_hash: session.tokenHash,
      expires_at: session.expiresAt,
      created_at: session.now,
      last_seen_at: session.now,
      ip: session.ip ?? null,
      user_agent: session.userAgent?.slice(0, 500) ?? null,
    })
    .execute();
}

export function findSession(db: Db, tokenHash: string, now: Date): Promise<(EditorSession & { email: string; role: EditorRole }) | undefined> {
  return db
    .selectFrom('editor_sessions as s')
    .innerJoin('editors as e', 'e.id', 's.editor_id')
    .selectAll('s')
    .select(['e.email', 'e.role'])
    .where('s.token_hash', '=', tokenHash)
    .where('s.expires_at', '>', now)
    .executeTakeFirst();
}

export async function extendSession(db: Db, id: string, now: Date, expiresAt: Date): Promise<void> {
  await db.updateTable('editor_sessions').set({ last_seen_at: now, expires_at: expiresAt }).where('id', '=', id).execute();
}

export async function deleteSession(db: Db, tokenHash: string): Promise<void> {
  await db.deleteFrom('editor_sessions').where('token_hash', '=', tokenHash).execute();
}

/**
 * Expired sessions and links go; they are checked by date anyway, this only keeps the tables
 * small. A used link stays until its expiry, so that opening it again says "used already".
 */
export async function deleteExpired(db: Db, now: Date): Promise<void> {
  await db.deleteFrom('editor_sessions').where('expires_at', '<=', now).execute();
  await db.deleteFrom('editor_sign_in_links').where('expires_at', '<=', now).execute();
}

export async function insertApiToken(db: Db, editorId: string, name: string, tokenHash: string): Promise<string> {
  const row = await db.insertInto('editor_api_tokens').values({ editor_id: editorId, name, token_hash: tokenHash }).returning('id').executeTakeFirstOrThrow();
  return row.id;
}

export function apiTokensOf(db: Db, editorId: string) {
  return db
    .selectFrom('editor_api_tokens')
    .select(['id', 'name', 'created_at', 'last_used_at'])
    .where('editor_id', '=', editorId)
    .orderBy('created_at')
    .execute();
}

export async function deleteApiToken(db: Db, editorId: string, id: string): Promise<boolean> {
  const result = await db.deleteFrom('editor_api_tokens').where('editor_id', '=', editorId).where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** The editor an API token belongs to, noting its use (at most once a minute, to spare writes). */
export async function editorOfApiToken(db: Db, tokenHash: string, now: Date): Promise<Editor | undefined> {
  const row = await db
    .selectFrom('editor_api_tokens as t')
    .innerJoin('editors as e', 'e.id', 't.editor_id')
    .select(['t.id as token_id', 't.last_used_at', 'e.id', 'e.email', 'e.role', 'e.created_at'])
    .where('t.token_hash', '=', tokenHash)
    .executeTakeFirst();
  if (!row) return undefined;
  if (!row.last_used_at || now.getTime() - row.last_used_at.getTime() > 60_000) {
    await db.updateTable('editor_api_tokens').set({ last_used_at: now }).where('id', '=', row.token_id).execute();
  }
  return { id: row.id, email: row.email, role: row.role, created_at: row.created_at };
}
