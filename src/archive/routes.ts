import express, { type Response } from 'express';
import type { Config } from '../config';
import type { Db } from '../db/database';
import type { List } from '../db/schema';
import { AppError } from '../errors';
import { pageErrors } from '../http/errors';
import { requestLang } from '../http/request';
import { html, sendPage } from '../http/page';
import { pickLanguage, t } from '../i18n';
import { formatDate } from '../issues/strings';
import { loadTemplates, type Templates } from '../issues/templates';
import type { Issue } from '../issues/types';
import { allLists, findListBySlug } from '../lists/repository';
import { archiveFeed } from './feed';
import { feedLink, listAbout } from '../subscribers/pages';
import { homePage } from './home';
import { latestPublishedByList, publicCoversOf, findPublishedIssue, publishedIssues, type PublishedIssue } from '../issues/published';
import { issueView } from '../issues/view';
import { plainText } from '../issues/rich-text';
import { feedContentHtml } from './feed-content';
import { renderWebVersion, visitorContext } from './web-version';

/** What the archive and home pages need: read access to lists and issues, and the public URL. */
export interface ArchiveDeps {
  db: Db;
  config: Pick<Config, 'publicUrl'>;
}

// The web version is an email: it carries its own <style> blocks and inline styles, and its
// images come from the asset store or the editor's https URLs. Still no script, no frames.
const WEB_VERSION_CSP = [
  "default-src 'none'",
  "style-src 'unsafe-inline'",
  'img-src https: http: data:',
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Sent issues never change, so a compiled web version is kept; a few dozen cover the popular ones. */
const CACHE_SIZE = 50;

/** Entries of a feed: the latest sent issues, each whole. */
const FEED_ENTRIES = 50;

async function listOr404(db: Db, slug: string): Promise<List> {
  const list = await findListBySlug(db, slug);
  if (!list) throw new AppError('not_found', `no list "${slug}"`);
  return list;
}

function summaryOf(issue: PublishedIssue): string | undefined {
  const content = issue.content as unknown as Issue;
  return content.preheader ?? content.subject;
}

/**
 *   GET /lists/:list/archive          sent issues, newest first
 *   GET /lists/:list/archive/:issue   the web version of one
 *   GET /lists/:list/feed.xml         Atom feed of them
 * Only issues whose send has started are public: a draft or a scheduled issue is a 404, the
 * same answer as a slug that does not exist, so unpublished titles cannot be guessed.
 */
export function archiveRoutes(deps: ArchiveDeps, templates: Templates = loadTemplates()): express.Router {
  const { db, config } = deps;
  const router = express.Router();
  const cache = new Map<string, string>();
  /** Each list's feed as last built, with what it was built from (one entry a list). */
  const feeds = new Map<string, { key: string; xml: string }>();

  /** A sent issue as the public sees it: a digest covers only weeklies that are public too. */
  async function visitorIssue(issue: PublishedIssue): Promise<{ content: Issue; coverTitles?: Record<string, string> }> {
    const content = issue.content as unknown as Issue;
    if (content.kind !== 'digest' || !content.covers) return { content };
    const coverTitles = await publicCoversOf(db, issue);
    return { content: { ...content, covers: content.covers.filter((slug) => slug in coverTitles) }, coverTitles };
  }

  router.get('/lists/:list/archive', async (req, res) => {
    const list = await listOr404(db, req.params.list);
    const lang = pickLanguage(list.language);
    const issues = await publishedIssues(db, list.id);
    const listPath = `/lists/${encodeURIComponent(list.slug)}`;
    const entries = issues.map(
      (issue) =>
        html`<article class="card" role="listitem"><p class="kicker">${formatDate(issue.date, list.language)}${issue.kind === 'digest' ? html` · ${t(lang, 'archive.digest')}` : ''}</p><h2><a href="${listPath}/archive/${encodeURIComponent(issue.slug)}">${issue.title}</a></h2>${summaryOf(issue) ? html`<p class="muted">${summaryOf(issue)}</p>` : ''}</article>`,
    );
    sendPage(res, 200, list.language, {
      title: t(lang, 'archive.title', { list: list.name }),
      head: feedLink(list),
      indexable: true,
      body: html`<div class="card"><p class="kicker">${list.name}</p><h1>${t(lang, 'archive.title', { list: list.name })}</h1>${listAbout(list)}<nav class="links" aria-label="${list.name}"><a href="${listPath}">${t(lang, 'archive.subscribe')}</a><a href="${listPath}/feed.xml" type="application/atom+xml">${t(lang, 'archive.feed')}</a></nav></div>${
        entries.length > 0 ? html`<div role="list">${entries}</div>` : html`<p class="card">${t(lang, 'archive.empty')}</p>`
      }`,
    });
  });

  router.get('/lists/:list/archive/:issue', async (req, res) => {
    const list = await listOr404(db, req.params.list);
    const issue = await findPublishedIssue(db, list.id, req.params.issue);
    if (!issue) throw new AppError('not_found', `no sent issue "${req.params.issue}" in ${list.slug}`);
    // The page shows the list too (name, contact line, description): a change to it is a new page.
    const key = JSON.stringify([
      issue.id,
      issue.updated_at.getTime(),
      list.name,
      list.contact,
      list.description,
      list.weekly_description,
      list.monthly_description,
    ]);
    let page = cache.get(key);
    if (page === undefined) {
      const { content, coverTitles } = await visitorIssue(issue);
      page = await renderWebVersion({ issue: content, list, publicUrl: config.publicUrl, coverTitles }, templates);
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      cache.set(key, page);
    }
    sendHtml(res, page, WEB_VERSION_CSP);
  });

  router.get('/lists/:list/feed.xml', async (req, res) => {
    const list = await listOr404(db, req.params.list);
    const issues = await publishedIssues(db, list.id, FEED_ENTRIES);
    // Whole issues make a feed of about a megabyte and a second or two of CPU to build: it is
    // built again only when an issue is sent (or changed) or the list's own words change.
    const key = JSON.stringify([
      list.name,
      list.language,
      list.from_address,
      list.contact,
      list.description,
      issues.map((i) => [i.id, i.updated_at.getTime(), i.sent_at.getTime()]),
    ]);
    let feed = feeds.get(list.id);
    if (feed?.key !== key) {
      const entries = [];
      for (const issue of issues) {
        const { content, coverTitles } = await visitorIssue(issue);
        const view = issueView(content, visitorContext({ issue: content, list, publicUrl: config.publicUrl, coverTitles }));
        entries.push({ slug: issue.slug, title: issue.title, summary: summaryOf(issue), sentAt: issue.sent_at, content: feedContentHtml(view) });
      }
      const about = list.description ? plainText(list.description).replace(/\s+/g, ' ').trim() : undefined;
      const xml = archiveFeed(
        { slug: list.slug, name: list.name, language: list.language, from: list.from_address, description: about },
        entries,
        config.publicUrl,
      );
      feed = { key, xml };
      feeds.set(list.id, feed);
    }
    res
      .set({ 'Content-Type': 'application/atom+xml; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'public, max-age=300' })
      .send(feed.xml);
  });

  // Readers get a page, not JSON, when an archive URL leads nowhere; the status stays 404 and
  // the answer is the same for an unknown slug and an unpublished one.
  router.use(pageErrors());
  return router;
}

function sendHtml(res: Response, page: string, csp: string): void {
  res
    .status(200)
    .set({
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': csp,
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'strict-origin-when-cross-origin',
      // The same for everyone and immutable once sent: a shared cache may keep it a while.
      'Cache-Control': 'public, max-age=300',
    })
    .send(page);
}

/** `/`, the front door: every list, what it is, how often it comes, its latest issue and a subscribe form. */
export function homeRoutes(deps: ArchiveDeps): express.Router {
  const { db } = deps;
  const router = express.Router();
  router.get('/', async (req, res) => {
    const [lists, latest] = await Promise.all([allLists(db), latestPublishedByList(db)]);
    // The page's own words follow the reader's browser; each list speaks its own language.
    const lang = requestLang(req);
    const entries = lists.map((list) => ({ list, latest: latest.get(list.id) }));
    sendPage(res, 200, lang, homePage(lang, entries));
  });
  return router;
}
