import type { Db } from '../db/database';
import type { List, SubscriptionStatus } from '../db/schema';
import { AppError } from '../errors';
import { LIST_FIELD_ENTRIES, listToJson, UPDATABLE_FIELDS, type ListValues } from './fields';
import { countByStatus, createList, getListBySlug, updateList } from './repository';

export { listToJson, SLUG_PATTERN, type ListInput, type ListJson } from './fields';

export interface ListProblem {
  field: string;
  message: string;
}

/**
 * Checks a list as the editor gave it and returns the values to store (slots and language in
 * canonical form). Every problem is reported at once, so that an editor fixes them in one go:
 * AppError('invalid_input') with the problems as details.
 */
export function validateListInput(input: unknown): ListValues {
  const problems: ListProblem[] = [];
  const raw = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const values: Record<string, unknown> = {};
  for (const [name, f] of LIST_FIELD_ENTRIES) {
    values[f.column] = f.read(raw[name], (message, field = name) => problems.push({ field, message }));
  }
  if (problems.length > 0) {
    const summary = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
    throw new AppError('invalid_input', `invalid list: ${summary}`, problems);
  }
  return values as ListValues;
}

/**
 * A change to a list's settings, on the list's log: who made it (an editor's address, 'cli',
 * 'api') and which settings changed. Only names: the values are the list's own row.
 */
async function recordListChange(db: Db, list: List, type: 'created' | 'settings_changed', actor: string | undefined, changed: string[]): Promise<void> {
  if (!actor) return;
  await db
    .insertInto('list_events')
    .values({ list_id: list.id, type, data: JSON.stringify({ actor, changed }) })
    .execute();
}

/** Validates and stores a new list; a taken slug is a `conflict`. `actor`: who, for the list's log. */
export async function createListFromInput(db: Db, input: unknown, actor?: string): Promise<List> {
  const list = await createList(db, validateListInput(input));
  await recordListChange(db, list, 'created', actor, []);
  return list;
}

/**
 * Changes some settings of a list: the given fields over the stored ones, checked by the same
 * rules as a new list (so a list cannot be updated into one `create` would refuse). A field
 * left out keeps its value; `null` clears an optional one (weekly, monthly, replyTo, …).
 */
export async function updateListFromInput(db: Db, slug: string, changes: unknown, actor?: string): Promise<List> {
  if (typeof changes !== 'object' || changes === null || Array.isArray(changes)) {
    throw new AppError('invalid_input', 'send the changes as a JSON object, like { "contact": "…" }');
  }
  const given = Object.entries(changes).filter(([, value]) => value !== undefined);
  const unknown = given.filter(([field]) => !UPDATABLE_FIELDS.has(field)).map(([field]) => field);
  if (unknown.length > 0) {
    const problems = unknown.map((field) => ({
      field,
      message: field === 'slug' ? 'cannot be changed (sent emails link to it)' : 'is not a setting of a list',
    }));
    throw new AppError('invalid_input', `invalid list: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`, problems);
  }
  const current = await getListBySlug(db, slug);
  const before = listToJson(current);
  const { slug: _unchanged, ...values } = validateListInput({ ...before, ...Object.fromEntries(given) });
  const updated = await updateList(db, slug, values);
  const after = listToJson(updated);
  const changed = given
    .map(([field]) => field)
    .filter((field) => JSON.stringify(before[field as keyof typeof before]) !== JSON.stringify(after[field as keyof typeof after]));
  if (changed.length > 0) await recordListChange(db, updated, 'settings_changed', actor, changed);
  return updated;
}

export type StatusCounts = Record<SubscriptionStatus, number>;

/** A list and how many subscriptions it has in each status (`lists show`, GET /lists/:slug). */
export async function getListWithCounts(db: Db, slug: string): Promise<{ list: List; counts: StatusCounts }> {
  const list = await getListBySlug(db, slug);
  return { list, counts: await countByStatus(db, list.id) };
}
