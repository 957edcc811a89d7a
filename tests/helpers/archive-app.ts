import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { archiveRoutes, homeRoutes } from '../../src/archive/routes';
import type { Db } from '../../src/db/database';
import type { List, SendStatus } from '../../src/db/schema';
import type { Issue } from '../../src/issues/types';
import { createList } from '../../src/lists/repository';
import { createTestDb, type TestDb } from './db';

/**
 * The archive and home routers on a real database and a loopback port. Issues and sends are
 * written as rows, in each state a send can be in, so the tests say what is public without
 * sending anything.
 */
export interface ArchiveApp {
  baseUrl: string;
  test: TestDb;
  list: List;
  addIssue(issue: Issue, status: SendStatus | 'draft', startedAt?: Date): Promise<void>;
  close(): Promise<void>;
}

export async function startArchiveApp(listOptions: { slug?: string; name?: string; language?: string } = {}): Promise<ArchiveApp> {
  const test = await createTestDb();
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const app = express();
  const deps = { db: test.db, config: { publicUrl: baseUrl } };
  app.use(homeRoutes(deps));
  app.use(archiveRoutes(deps));
  server.on('request', app);

  const list = await createList(test.db, {
    slug: listOptions.slug ?? 'ml-news',
    name: listOptions.name ?? '机器学习月报',
    from_address: '"ML News" <news@example.org>',
    language: listOptions.language ?? 'zh-CN',
    timezone: 'Asia/Shanghai',
    contact: 'Example Press · 1 Main Street · Berlin',
  });

  return {
    baseUrl,
    test,
    list,
    addIssue: (issue, status, startedAt) => insertIssue(test.db, list.id, issue, status, startedAt),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await test.drop();
    },
  };
}

/**
 * An issue and its send as rows, in any state a send can be in ('draft': no send at all), so a
 * test says what is public without sending anything.
 */
export async function insertIssue(db: Db, listId: string, issue: Issue, status: SendStatus | 'draft', startedAt = new Date()): Promise<void> {
  const row = await db
    .insertInto('issues')
    .values({ list_id: listId, slug: issue.slug, kind: issue.kind ?? 'weekly', date: issue.date, title: issue.title, content: JSON.stringify(issue) })
    .returning('id')
    .executeTakeFirstOrThrow();
  if (status === 'draft') return;
  await db
    .insertInto('sends')
    .values({
      issue_id: row.id,
      list_id: listId,
      cadence: issue.kind === 'digest' ? 'monthly' : 'weekly',
      status,
      scheduled_at: startedAt,
      started_at: status === 'scheduled' || status === 'cancelled' ? null : startedAt,
      batch_size: 100,
    })
    .execute();
}

/** A small valid issue; `over` changes any field. */
export function smallIssue(slug: string, date: string, over: Partial<Issue> = {}): Issue {
  return {
    format: 1,
    list: 'ml-news',
    kind: 'weekly',
    slug,
    title: `Issue ${slug} <b>& co</b>`,
    preheader: `Preheader of ${slug}`,
    date,
    language: 'en',
    sections: [{ id: 'papers', title: 'Papers', items: [{ title: `Story of ${slug}`, url: `https://example.com/${slug}`, summary: 'A **short** summary.' }] }],
    ...over,
  };
}
