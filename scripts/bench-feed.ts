/**
 * How long building a list's Atom feed takes when each entry is a whole issue: 50 copies of
 * the golden issue (the seed newsletter, ~100 stories), as GET /lists/:list/feed.xml builds
 * them after an issue is sent (the route keeps the result until the next change).
 *
 *   npm run bench:feed
 */
import { performance } from 'node:perf_hooks';
import { archiveFeed } from '../src/archive/feed';
import { feedContentHtml } from '../src/archive/feed-content';
import { visitorContext } from '../src/archive/web-version';
import { issueView } from '../src/issues/view';
import { loadGolden } from '../tests/fixtures/golden';

const golden = loadGolden();
const list = { slug: 'ml-news', name: '机器学习月报', language: 'zh-CN', contact: 'Example Press · Berlin' };
const issues = Array.from({ length: 50 }, (_, i) => ({ ...golden, slug: `issue-${i}` }));
const publicUrl = 'http://localhost:3000';

function build(): { xml: string; contentMs: number; xmlMs: number } {
  const t0 = performance.now();
  const entries = issues.map((issue) => ({
    slug: issue.slug,
    title: issue.title,
    summary: issue.preheader,
    sentAt: new Date('2021-03-01T00:00:00Z'),
    content: feedContentHtml(issueView(issue, visitorContext({ issue, list, publicUrl }))),
  }));
  const t1 = performance.now();
  const xml = archiveFeed({ slug: list.slug, name: list.name, language: list.language, from: 'news@example.org' }, entries, publicUrl);
  return { xml, contentMs: t1 - t0, xmlMs: performance.now() - t1 };
}

for (let i = 0; i < 3; i++) build(); // warm up
const runs = 10;
let content = 0;
let xmlTime = 0;
let size = 0;
for (let i = 0; i < runs; i++) {
  const r = build();
  content += r.contentMs;
  xmlTime += r.xmlMs;
  size = Buffer.byteLength(r.xml);
}
console.log(
  `feed of ${issues.length} whole issues: ${((content + xmlTime) / runs).toFixed(0)} ms a build (content ${(content / runs).toFixed(0)} ms, Atom XML ${(xmlTime / runs).toFixed(0)} ms), ${(size / 1024).toFixed(0)} KB`,
);
