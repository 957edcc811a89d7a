import { subscriptionsByStatus } from '../db/counters';
import type { Db } from '../db/database';
import type { List, ListSection, NewList, SubscriptionStatus } from '../db/schema';
import { AppError } from '../errors';

export async function createList(db: Db, list: Omit<NewList, 'sections'> & { sections?: ListSection[] }): Promise<List> {
  const existing = await findListBySlug(db, list.slug);
  if (existing) throw new AppError('conflict', `a list with slug "${list.slug}" exists already`);
  try {
    return await db
      .insertInto('lists')
      .values({ ...list, sections: JSON.stringify(list.sections ?? []) })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err) {
    // Two editors creating the same slug at once: the unique index decides, not the check above.
    if ((err as { code?: string }).code === '23505') throw new AppError('conflict', `a list with slug "${list.slug}" exists already`);
    throw err;
  }
}

export function findListBySlug(db: Db, slug: string): Promise<List | undefined> {
  return db.selectFrom('lists').selectAll().where('slug', '=', slug).executeTakeFirst();
}

export async function getListBySlug(db: Db, slug: string): Promise<List> {
  const list = await findListBySlug(db, slug);
  if (!list) throw new AppError('not_found', `no list "${slug}"`);
  return list;
}

export function findListById(db: Db, id: string): Promise<List | undefined> {
  return db.selectFrom('lists').selectAll().where('id', '=', id).executeTakeFirst();
}

export function allLists(db: Db): Promise<List[]> {
  return db.selectFrom('lists').selectAll().orderBy('slug').execute();
}

export async function updateList(db: Db, slug: string, changes: Partial<Omit<NewList, 'slug' | 'sections'>> & { sections?: ListSection[] }): Promise<List> {
  const { sections, ...rest } = changes;
  const updated = await db
    .updateTable('lists')
    .set({ ...rest, ...(sections ? { sections: JSON.stringify(sections) } : {}) })
    .where('slug', '=', slug)
    .returningAll()
    .executeTakeFirst();
  if (!updated) throw new AppError('not_found', `no list "${slug}"`);
  return updated;
}

/** A list's subscriptions per status, every status present (0 when none); from the counters the database keeps. */
export function countByStatus(db: Db, listId: string): Promise<Record<SubscriptionStatus, number>> {
  return subscriptionsByStatus(db, listId);
}
