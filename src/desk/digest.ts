import express, { type Request } from 'express';
import { DateTime } from 'luxon';
import type { IssueRow, List } from '../db/schema';
import type { AppDeps } from '../http/deps';
import { html } from '../http/page';
import { param, str } from '../http/request';
import { previewAsReader } from '../issues/reader-preview';
import { assetBaseUrl } from '../issues/repository';
import { loadTemplates, type Templates } from '../issues/templates';
import { getListBySlug } from '../lists/repository';
import { comingDigest, curateDraft, digestOfMonth, type MonthDigest } from '../schedules/coming-digest';
import { monthName } from '../schedules/digest';
import { monthKey, parseMonth } from '../schedules/next-slot';
import { coverTitles } from '../sending/repository';
import { deskPage, postForm, textArea } from './layout';
import { previewFrames, sendEmailHtml } from './issues';
import { enc, localTime, stateBadge } from './view';

/**
 * The monthly digest on the desk: for any month, the digest as it would go (the curated one
 * when an editor imported one, else the one Broadsheet generates from the month's sent
 * weeklies), and "curate": the generated digest as JSON in the paste form, to edit and store.
 */

let templates: Templates | undefined;

const digestUrl = (list: List) => `/admin/lists/${enc(list.slug)}/digest`;

/** The month asked for (`?month=YYYY-MM`), or the one the coming digest covers. */
async function monthOf(deps: AppDeps, list: List, req: Request): Promise<MonthDigest> {
  const month = str(req.query.month);
  if (month) {
    const m = parseMonth(month);
    return digestOfMonth(deps.db, list, m.year, m.month);
  }
  const now = deps.clock?.() ?? new Date();
  const coming = await comingDigest(deps.db, list, now);
  if (coming) return coming;
  const last = DateTime.fromJSDate(now, { zone: list.timezone }).minus({ months: 1 });
  return digestOfMonth(deps.db, list, last.year, last.month);
}

async function digestHtml(deps: AppDeps, list: List, d: MonthDigest): Promise<string | undefined> {
  if (!d.issue) return undefined;
  // A stored digest has its images in its own folder; a generated one not yet stored names
  // them `WEEKLY/path` inside the list's asset folder.
  const base = d.row ? assetBaseUrl(deps.config.publicUrl, list.slug, d.row.slug) : `${deps.config.publicUrl}/assets/${enc(list.slug)}`;
  const covers = await coverTitles(deps.db, d.row ?? ({ list_id: list.id, content: d.issue } as unknown as IssueRow));
  const preview = await previewAsReader({
    issue: d.issue,
    list,
    publicUrl: deps.config.publicUrl,
    assetBaseUrl: base,
    reader: { cadence: 'monthly', excludedSections: [] },
    coverTitles: covers,
    templates: (templates ??= loadTemplates()),
  });
  return preview.html;
}

export function digestDesk(deps: AppDeps): express.Router {
  const router = express.Router();

  router.get('/lists/:slug/digest', async (req, res) => {
    const list = await getListBySlug(deps.db, param(req, 'slug'));
    const d = await monthOf(deps, list, req);
    const key = monthKey(d.year, d.month);
    const name = monthName(d.year, d.month, 'en');
    const source =
      d.source === 'curated'
        ? 'curated by an editor: it replaces the generated one'
        : d.source === 'generated'
          ? `generated from ${d.weeklies} sent weekly issue${d.weeklies === 1 ? '' : 's'}`
          : 'none: no weekly issue of this month has been sent';
    deskPage(res, {
      section: 'lists',
      title: `Digest ${key} · ${list.name}`,
      body: html`<p><a href="/admin/lists/${enc(list.slug)}">← ${list.name}</a></p><h1>The digest of ${name}</h1>
<form method="get" action="${digestUrl(list)}" class="row"><div class="field"><label for="month">Month</label><input id="month" name="month" type="month" value="${key}"></div><button type="submit" class="secondary">Show</button></form>
<div class="card"><dl class="facts"><dt>Digest</dt><dd>${source}</dd>
<dt>Goes</dt><dd>${d.goesAt ? localTime(d.goesAt, list.timezone) : 'never: the list has no monthly slot'}</dd>
<dt>State</dt><dd>${stateBadge(d.state)}${d.sendId ? html` <a href="/admin/sends/${d.sendId}">the send</a>` : ''}</dd>
<dt>Covers</dt><dd>${d.weeklies} weekly issue${d.weeklies === 1 ? '' : 's'}</dd>
${d.issue ? html`<dt>Title</dt><dd>${d.issue.title}</dd>` : ''}</dl>
${d.issue && d.state === 'draft' ? html`<p><a class="button" href="${digestUrl(list)}/curate?month=${key}">Curate it</a></p>` : ''}
${d.row ? html`<p><a href="/admin/lists/${enc(list.slug)}/issues/${enc(d.row.slug)}">The stored digest issue →</a></p>` : ''}</div>
${d.issue ? previewFrames(`${digestUrl(list)}/email.html?month=${key}`, `The digest of ${name}`) : ''}`,
    });
  });

  router.get('/lists/:slug/digest/email.html', async (req, res) => {
    const list = await getListBySlug(deps.db, param(req, 'slug'));
    const markup = await digestHtml(deps, list, await monthOf(deps, list, req));
    sendEmailHtml(res, markup ?? '<!doctype html><p>No digest for this month: no weekly issue of it has been sent.</p>');
  });

  router.get('/lists/:slug/digest/curate', async (req, res) => {
    const list = await getListBySlug(deps.db, param(req, 'slug'));
    const d = await monthOf(deps, list, req);
    const draft = await curateDraft(deps.db, list, d.year, d.month);
    deskPage(res, {
      section: 'lists',
      title: `Curate the digest · ${list.name}`,
      body: html`<p><a href="${digestUrl(list)}?month=${monthKey(d.year, d.month)}">← The digest</a></p><h1>Curate the digest of ${monthName(d.year, d.month, 'en')}</h1>
<div class="card">${
        draft
          ? postForm(
              res,
              `/admin/lists/${enc(list.slug)}/issues/paste`,
              html`<p>Change what you like: keep its <code>"kind": "digest"</code> and a date in the month. Stored, it replaces the generated digest at the monthly slot.</p>${textArea({ name: 'json', label: 'Digest JSON', value: draft, rows: 24 })}<button type="submit">Check and store</button>`,
            )
          : html`<p>No weekly issue of this month has been sent: there is nothing to curate.</p>`
      }</div>`,
    });
  });

  return router;
}
