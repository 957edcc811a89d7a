import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/app';
import { parseMail } from '../../src/mail/capture';
import { assetDir, importIssue } from '../../src/issues/repository';
import { sendTest } from '../../src/sending/editor';
import { insertIssue, smallIssue, addSubscribers, importFixture, startSend, startWorld, type World } from '../helpers/world';
import { eventually } from '../helpers/eventually';
import { blockRemoteRequests, launchBrowser } from '../helpers/browser';

/**
 * Issue 13, findings 3 and 4: only sent issues' titles and assets are public. A digest's email
 * leaves out the covers that are not sent (a draft, a scheduled and a cancelled weekly); a
 * draft's images answer 404 except through the key a test email carries; and an imported SVG
 * runs no script on the app's origin (checked in real Chromium). Real PostgreSQL, Redis, SMTP
 * and the real app.
 */
jest.setTimeout(120_000);

let world: World;
let baseUrl: string;
let server: http.Server;
/** Paths the app was asked for, to see whether a script in an SVG called home. */
const asked: string[] = [];

beforeAll(async () => {
  server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  world = await startWorld({ env: { PUBLIC_URL: baseUrl } });
  const app = createApp({ config: world.config, db: world.db, redis: world.redis, queues: world.queues });
  server.on('request', (req, res) => {
    asked.push(req.url ?? '');
    app(req, res);
  });
});

/** Waits for one issue's send to be done (the world's helper looks at the only send). */
async function waitUntilSent(slug: string): Promise<void> {
  await eventually(async () => {
    const row = await world.db
      .selectFrom('sends')
      .innerJoin('issues', 'issues.id', 'sends.issue_id')
      .select('sends.status')
      .where('issues.slug', '=', slug)
      .executeTakeFirst();
    return row?.status === 'done';
  }, 60_000);
}

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await world?.close();
});

test('a digest email names only the sent weeklies it covers: no draft, scheduled or cancelled title', async () => {
  await addSubscribers(world.db, world.list.id, 2, 'monthly', { cadence: 'monthly' });
  await insertIssue(world.db, world.list.id, smallIssue('w-sent', '2021-02-01', { title: 'Public weekly' }), 'done');
  await insertIssue(world.db, world.list.id, smallIssue('w-draft', '2021-02-08', { title: 'Secret draft' }), 'draft');
  await insertIssue(world.db, world.list.id, smallIssue('w-sched', '2021-02-15', { title: 'Secret scheduled' }), 'scheduled');
  await insertIssue(world.db, world.list.id, smallIssue('w-cancel', '2021-02-22', { title: 'Secret cancelled' }), 'cancelled');
  const digest = {
    ...smallIssue('digest-2021-02', '2021-02-28', { kind: 'digest', title: 'February digest' }),
    covers: ['w-sent', 'w-draft', 'w-sched', 'w-cancel'],
  };
  await importIssue(world.db, { list: world.list, issue: digest, baseDir: world.dataDir, dataDir: world.dataDir });
  await startSend(world, 'digest-2021-02');
  await waitUntilSent('digest-2021-02');

  const mails = world.smtp.messages().filter((m) => m.envelope.to.some((to) => to.startsWith('monthly-')));
  expect(mails).toHaveLength(2);
  const parsed = await parseMail(mails[0]!);
  const everything = `${parsed.html}\n${parsed.text}`;
  expect(everything).toContain('Public weekly');
  expect(everything).toContain('/archive/w-sent');
  for (const secret of ['Secret draft', 'Secret scheduled', 'Secret cancelled', 'w-draft', 'w-sched', 'w-cancel']) expect(everything).not.toContain(secret);
});

test("a draft's images are not public; the test email's keyed URLs show them; once sent they are public", async () => {
  const issue = await importFixture(world); // the golden issue, a draft, with its images
  const image = `${baseUrl}/assets/ml-news/${issue.slug}/images/dalle.png`;
  expect((await fetch(image)).status).toBe(404);
  expect((await fetch(`${baseUrl}/assets/ml-news/${issue.slug}/~zzzzzz.${'A'.repeat(43)}/images/dalle.png`)).status).toBe(404);

  // The editor's test email: its image URLs carry a key that opens the draft's images.
  await sendTest({ db: world.db, queues: world.queues, config: world.config }, issue, 'editor@example.org');
  const test = world.smtp.messages().find((m) => m.envelope.to.includes('editor@example.org'))!;
  const html = (await parseMail(test)).html || '';
  const keyed = new RegExp(`${baseUrl}/assets/ml-news/${issue.slug}/~[^/"]+/images/dalle\\.png`).exec(html);
  expect(keyed).not.toBeNull();
  const viaKey = await fetch(keyed![0]);
  expect(viaKey.status).toBe(200);
  expect(viaKey.headers.get('cache-control')).toContain('no-store');
  expect(viaKey.headers.get('content-type')).toBe('image/png');

  await addSubscribers(world.db, world.list.id, 1, 'weekly');
  await startSend(world, issue.slug);
  await waitUntilSent(issue.slug);
  const sent = await fetch(image);
  expect(sent.status).toBe(200);
  expect(sent.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'; sandbox");
  expect(sent.headers.get('x-content-type-options')).toBe('nosniff');
});

test('an imported SVG with a script runs nothing on the app origin (Chromium)', async () => {
  // An issue that is public, with an SVG among its assets (as `issues import` copies it).
  await insertIssue(world.db, world.list.id, smallIssue('svg-weekly', '2021-03-01'), 'done');
  const dir = assetDir(world.dataDir, 'ml-news', 'svg-weekly');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'chart.svg'),
    `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/><script>fetch('/svg-script-ran?cookie=' + document.cookie)</script></svg>`,
  );
  const url = `${baseUrl}/assets/ml-news/svg-weekly/chart.svg`;
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-security-policy')).toContain('sandbox');

  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await blockRemoteRequests(page);
    await page.goto(url);
    await page.waitForTimeout(500);
    expect(asked.filter((p) => p.startsWith('/svg-script-ran'))).toEqual([]);
  } finally {
    await browser.close();
  }
});
