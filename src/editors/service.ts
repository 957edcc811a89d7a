import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config';
import type { Db } from '../db/database';
import type { Editor, EditorRole } from '../db/schema';
import { AppError } from '../errors';
import type { Queues } from '../queues';
import { isValidAddress } from '../subscribers/address';
import { signToken, TOKEN_LIFETIME_MS, verifyToken } from '../subscribers/tokens';
import * as repo from './repository';

/**
 * Editors and how they get in: the same functions for `broadsheet editors …`, the desk's
 * sign-in pages and the desk's editors page.
 *
 * - A sign-in link is `${PUBLIC_URL}/admin/sign-in/TOKEN`, where TOKEN signs the id of a row in
 *   `editor_sign_in_links` (the subscriber links' format, purpose `sign-in`, 15 minutes). The
 *   row makes it one use.
 * - A session is a random 32-byte cookie value; the database keeps its SHA-256 only. It lasts
 *   12 hours from the last request, and never more than 7 days from the sign-in.
 * - The CSRF token of a session is an HMAC of the session's id under SECRET_KEY: nothing more to
 *   store, and it cannot be computed without the key.
 */

export const ROLES: readonly EditorRole[] = ['owner', 'editor'];
export const SESSION_IDLE_MS = 12 * 60 * 60 * 1000;
export const SESSION_MAX_MS = 7 * 24 * 60 * 60 * 1000;
/** A session's expiry is pushed forward at most this often: one write per active editor a few minutes. */
const SESSION_TOUCH_MS = 5 * 60 * 1000;

export interface EditorDeps {
  db: Db;
  config: Pick<Config, 'publicUrl' | 'secretKeys'>;
  queues?: Pick<Queues, 'add'>;
}

/** Who is acting on the desk (or through an API token): what every page and event needs. */
export interface EditorIdentity {
  id: string;
  email: string;
  role: EditorRole;
}

export function identityOf(editor: Pick<Editor, 'id' | 'email' | 'role'>): EditorIdentity {
  return { id: editor.id, email: editor.email, role: editor.role };
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export function parseRole(value: unknown): EditorRole {
  if (value === undefined || value === '') return 'editor';
  if (value === 'owner' || value === 'editor') return value;
  throw new AppError('invalid_input', `role must be owner or editor, got "${String(value)}"`, { field: 'role' });
}

function parseEditorEmail(value: unknown): string {
  const email = typeof value === 'string' ? value.trim() : '';
  if (!isValidAddress(email)) throw new AppError('invalid_input', 'enter a valid email address, like name@example.org', { field: 'email' });
  return email;
}

// --- Editors ------------------------------------------------------------------------------

/**
 * Adds an editor and makes their first sign-in link (printed by the CLI, shown once on the
 * desk, and emailed when a queue is given). An address already there is a conflict.
 */
export async function addEditor(deps: EditorDeps, input: { email: unknown; role?: unknown }, now = new Date()): Promise<{ editor: Editor; link: string }> {
  const email = parseEditorEmail(input.email);
  const role = parseRole(input.role);
  const editor = await repo.insertEditor(deps.db, email, role);
  if (!editor) throw new AppError('conflict', `${email} is an editor already (editors list)`, { field: 'email' });
  const link = await createSignInLink(deps, editor, now);
  return { editor, link };
}

export function listEditors(db: Db): Promise<Editor[]> {
  return repo.allEditors(db);
}

/** Removes an editor (their sessions and tokens go with them); the last owner stays. */
export async function removeEditor(db: Db, emailOrId: string): Promise<Editor> {
  const editor = /^[0-9a-f-]{36}$/i.test(emailOrId) ? await repo.findEditor(db, emailOrId) : await repo.findEditorByEmail(db, emailOrId);
  if (!editor) throw new AppError('not_found', `no editor ${emailOrId}`);
  return db.transaction().execute(async (tx) => {
    await repo.deleteEditor(tx, editor.id);
    // Checked after the delete, in its transaction: two owners removing each other at once
    // cannot both succeed and leave nobody who can add editors.
    if (editor.role === 'owner' && (await repo.countOwners(tx)) === 0) {
      throw new AppError('conflict', `${editor.email} is the last owner; add another owner first`);
    }
    return editor;
  });
}

// --- Sign-in links ------------------------------------------------------------------------

export function signInUrl(config: Pick<Config, 'publicUrl' | 'secretKeys'>, linkId: string, expiresAt: Date): string {
  // Signed as of the link's creation, so the printed link and the emailed one are the same.
  const issued = new Date(expiresAt.getTime() - TOKEN_LIFETIME_MS['sign-in']!);
  return `${config.publicUrl}/admin/sign-in/${signToken(config.secretKeys, 'sign-in', linkId, issued)}`;
}

/** A fresh one-time link for an editor; emailed through the system-mail worker when a queue is given. */
export async function createSignInLink(deps: EditorDeps, editor: Pick<Editor, 'id'>, now = new Date()): Promise<string> {
  const expiresAt = new Date(now.getTime() + TOKEN_LIFETIME_MS['sign-in']!);
  const linkId = await repo.insertSignInLink(deps.db, editor.id, expiresAt);
  if (deps.queues) await deps.queues.add('editor-mail', { linkId });
  return signInUrl(deps.config, linkId, expiresAt);
}

/**
 * "Email me a sign-in link" from the desk's sign-in page: a link goes out when the address is
 * an editor's; the caller answers the same either way.
 */
export async function requestSignInLink(deps: EditorDeps & { queues: Pick<Queues, 'add'> }, emailInput: unknown, now = new Date()): Promise<void> {
  const email = parseEditorEmail(emailInput);
  const editor = await repo.findEditorByEmail(deps.db, email);
  if (editor) await createSignInLink(deps, editor, now);
}

export type LinkState = { state: 'valid'; linkId: string; email: string } | { state: 'used' | 'expired' | 'invalid' };

/** What a sign-in link's GET shows: never consumes it (mail scanners follow links). */
export async function checkSignInLink(deps: EditorDeps, token: unknown, now = new Date()): Promise<LinkState> {
  const check = verifyToken(deps.config.secretKeys, token, 'sign-in', now);
  if (!check.ok) return { state: check.reason === 'expired' ? 'expired' : 'invalid' };
  const link = await repo.findSignInLink(deps.db, check.subscriptionId);
  if (!link) return { state: 'invalid' };
  if (link.used_at) return { state: 'used' };
  if (link.expires_at <= now) return { state: 'expired' };
  return { state: 'valid', linkId: link.id, email: link.email };
}

export interface NewSession {
  /** The cookie's value: shown to the browser once, never stored. */
  token: string;
  editor: EditorIdentity;
  expiresAt: Date;
}

/** The POST of a sign-in link: uses it up and opens a session. */
export async function signInWithLink(deps: EditorDeps, token: unknown, meta: { ip?: string; userAgent?: string }, now = new Date()): Promise<NewSession> {
  const checked = await checkSignInLink(deps, token, now);
  if (checked.state !== 'valid')
    throw new AppError('gone', `this sign-in link is ${checked.state === 'invalid' ? 'not valid' : checked.state === 'used' ? 'used already' : 'out of date'}`);
  const editorId = await repo.useSignInLink(deps.db, checked.linkId, now);
  if (!editorId) throw new AppError('gone', 'this sign-in link is used already');
  const editor = await repo.findEditor(deps.db, editorId);
  if (!editor) throw new AppError('gone', 'this editor has been removed');
  const sessionToken = randomBytes(32).toString('base64url');
  const expiresAt = new Date(now.getTime() + SESSION_IDLE_MS);
  await repo.insertSession(deps.db, { editorId, tokenHash: sha256(sessionToken), expiresAt, now, ...meta });
  await repo.deleteExpired(deps.db, now);
  return { token: sessionToken, editor: identityOf(editor), expiresAt };
}

export interface OpenSession {
  id: string;
  editor: EditorIdentity;
  expiresAt: Date;
}

/** The session a cookie names, kept alive by use; undefined when there is none or it has run out. */
export async function openSession(db: Db, cookieToken: string | undefined, now = new Date()): Promise<OpenSession | undefined> {
  if (!cookieToken || cookieToken.length > 100) return undefined;
  const session = await repo.findSession(db, sha256(cookieToken), now);
  if (!session) return undefined;
  let expiresAt = session.expires_at;
  if (now.getTime() - session.last_seen_at.getTime() > SESSION_TOUCH_MS) {
    expiresAt = new Date(Math.min(now.getTime() + SESSION_IDLE_MS, session.created_at.getTime() + SESSION_MAX_MS));
    await repo.extendSession(db, session.id, now, expiresAt);
  }
  return { id: session.id, editor: { id: session.editor_id, email: session.email, role: session.role }, expiresAt };
}

export async function signOut(db: Db, cookieToken: string | undefined): Promise<void> {
  if (cookieToken) await repo.deleteSession(db, sha256(cookieToken));
}

/** The session's CSRF token: every desk form carries it, every desk POST must. */
export function csrfToken(secretKeys: readonly string[], sessionId: string): string {
  return createHmac('sha256', secretKeys[0]!).update(`broadsheet-csrf-v1|${sessionId}`).digest('base64url');
}

export function csrfMatches(secretKeys: readonly string[], sessionId: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const expected = Buffer.from(csrfToken(secretKeys, sessionId));
  const actual = Buffer.from(given);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

// --- API tokens ---------------------------------------------------------------------------

/** Bearer tokens of editors start with this, so a leaked one is recognisable (secret scanners). */
const API_TOKEN_PREFIX = 'bse_';

/** A new API token for /api/v1: the value is returned once; only its hash is stored. */
export async function createApiToken(db: Db, editor: Pick<Editor, 'id'>, nameInput: unknown): Promise<{ id: string; token: string }> {
  const name = typeof nameInput === 'string' ? nameInput.trim() : '';
  if (name === '' || name.length > 100) throw new AppError('invalid_input', 'give the token a name of 1 to 100 characters, like "laptop"', { field: 'name' });
  const token = API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const id = await repo.insertApiToken(db, editor.id, name, sha256(token));
  return { id, token };
}

export function apiTokensOf(db: Db, editor: Pick<Editor, 'id'>) {
  return repo.apiTokensOf(db, editor.id);
}

export async function revokeApiToken(db: Db, editor: Pick<Editor, 'id'>, id: string): Promise<void> {
  if (!/^[0-9a-f-]{36}$/i.test(id) || !(await repo.deleteApiToken(db, editor.id, id))) throw new AppError('not_found', 'no such token');
}

/** The editor a bearer token belongs to; undefined for anything else (ADMIN_TOKEN is checked by the caller). */
export async function editorOfApiToken(db: Db, bearer: string, now = new Date()): Promise<EditorIdentity | undefined> {
  if (!bearer.startsWith(API_TOKEN_PREFIX) || bearer.length > 100) return undefined;
  const editor = await repo.editorOfApiToken(db, sha256(bearer), now);
  return editor && identityOf(editor);
}
