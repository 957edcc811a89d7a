/**
 * `npm run demo`: an example newsletter to look at, on the database and Redis that `npm start`
 * uses (the same environment variables). Creates the list `ml-news` from the seed newsletter
 * in this repository (tests/fixtures/golden: the issue and its images), imports that issue,
 * adds a few confirmed subscribers of both cadences, and prints the pages to open.
 *
 *   npm start            # in one terminal: server, workers and scheduler
 *   npm run demo         # in another; run it again any time, it changes nothing twice
 *   npm run demo -- --send   # also sends the issue now, so the archive and outbox show it
 *
 * Nothing here is special to the demo: it calls the same services as the CLI.
 */
import path from 'node:path';
import { Readable } from 'node:stream';
import { loadConfig } from '../src/config';
import { connect } from '../src/connect';
import { migrateToLatest } from '../src/db/database';
import { importIssue } from '../src/issues/repository';
import { validateIssueFile, formatProblems } from '../src/issues/validate';
import { findListBySlug } from '../src/lists/repository';
import { createListFromInput } from '../src/lists/service';
import { sendAction } from '../src/sending/editor';
import { importSubscribers } from '../src/subscribers/import/pipeline';

const ISSUE_FILE = path.resolve(__dirname, '../tests/fixtures/golden/issue.json');
const SUBSCRIBERS = [
  'email,name,cadence',
  'ada@example.org,Ada,weekly',
  'grace@example.org,Grace,weekly',
  'linus@example.org,,weekly',
  'mei@example.org,美,monthly',
  'kenji@example.org,Kenji,monthly',
].join('\n');

async function main(): Promise<void> {
  const config = loadConfig();
  const send = process.argv.includes('--send');
  const checked = await validateIssueFile(ISSUE_FILE);
  if (!checked.ok) throw new Error(`the demo issue is not valid:\n${formatProblems(checked.problems)}`);
  const issue = checked.issue;

  const deps = await connect(config);
  try {
    await migrateToLatest(deps.db);
    let list = await findListBySlug(deps.db, issue.list);
    if (list) {
      console.log(`list ${list.slug} exists already: keeping it`);
    } else {
      list = await createListFromInput(deps.db, {
        slug: issue.list,
        name: '机器学习月报',
        from: 'ML News <news@example.org>',
        language: 'zh-CN',
        timezone: 'Asia/Shanghai',
        weekly: 'mon 09:00',
        monthly: '1 09:00',
        contact: 'Example Press · 1 Example Street · Berlin',
        // What visitors read on the home and subscribe pages, and the feed's subtitle.
        description: '每月精选**机器学习**领域值得一读的论文和文章：新模型、新方法，以及它们为什么重要。',
        weeklyDescription: '每周一期：本周最值得读的论文，每篇附一段点评',
        monthlyDescription: '每月一封：整月精华，忙的时候只看这一封',
        // The issue's own sections are the ones readers may opt out of.
        sections: issue.sections.map((s) => ({ id: s.id, title: s.title })),
      });
      console.log(`created list ${list.slug} (${list.name})`);
    }

    try {
      const { replaced } = await importIssue(deps.db, { list, issue, baseDir: checked.baseDir, dataDir: config.dataDir });
      console.log(`${replaced ? 're-imported' : 'imported'} issue ${issue.slug}: ${issue.title}`);
    } catch (err) {
      // Sent in an earlier run: a sent issue is immutable, which is fine for a demo.
      console.log(`issue ${issue.slug}: ${(err as Error).message}`);
    }

    const report = await importSubscribers(deps.db, deps.queues, list.slug, Readable.from([SUBSCRIBERS]), { confirmed: true });
    console.log(`subscribers: ${JSON.stringify({ ...report, problems: undefined })}`);

    if (send) {
      const row = await deps.db.selectFrom('issues').selectAll().where('list_id', '=', list.id).where('slug', '=', issue.slug).executeTakeFirstOrThrow();
      try {
        await sendAction({ db: deps.db, queues: deps.queues, config }, row, list, 'send');
        console.log(`sending ${issue.slug} to the weekly subscribers: the workers of \`npm start\` deliver it`);
      } catch (err) {
        console.log(`send: ${(err as Error).message}`);
      }
    }

    const base = config.publicUrl;
    const slug = encodeURIComponent(list.slug);
    console.log(`
Open:
  home             ${base}/
  subscribe page   ${base}/lists/${slug}
  outbox           ${base}/dev/outbox              (mail captured by \`npm start\` without SMTP_URL)
  archive          ${base}/lists/${slug}/archive    (sent issues${send ? '' : ': run `npm run demo -- --send` to send this one'})
  feed             ${base}/lists/${slug}/feed.xml
  web version      ${base}/lists/${slug}/archive/${encodeURIComponent(issue.slug)}   (once sent)
  preview          npx broadsheet preview ${path.relative(process.cwd(), ISSUE_FILE)}   → http://localhost:3001

Try next:
  npx broadsheet issues list --list ${list.slug}
  npx broadsheet issues schedule ${issue.slug} --list ${list.slug} --next
  npx broadsheet digest draft --list ${list.slug} --month ${issue.date.slice(0, 7)}`);
  } finally {
    await deps.close();
  }
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${(err as Error).message}`);
  process.exitCode = 1;
});
