import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import express, { type Request, type Response } from 'express';
import type { Cadence } from '../db/schema';
import { AppError } from '../errors';
import type { AppDeps } from '../http/deps';
import { html, type SafeHtml } from '../http/page';
import { arrayOf, bodyOf, metaOf, param, str } from '../http/request';
import { allLists, getListBySlug } from '../lists/repository';
import { exportSubscribers } from '../subscribers/export';
import { forgetSubscriber } from '../subscribers/forget';
import { importSubscribers } from '../subscribers/import/pipeline';
import { formatImportReport } from '../subscribers/import/report';
import { changePreferences, unsubscribe } from '../subscribers/preferences';
import { createSubscribeLimits } from '../subscribers/rate-limits';
import { searchSubscribers, subscriptionHistory, type SubscriptionHistory } from '../subscribers/search';
import { resendConfirmation } from '../subscribers/service';
import { findImportRun, finishImportRun, recordImportProgress, startImportRun, type ImportRun } from './import-runs';
import { checkboxField, deskPage, postForm, selectField, table, textField } from './layout';
import { saveMultipartFile } from './multipart';
import { editorOf } from './session';
import { enc, localTime, notice, plural } from './view';

/**
 * The desk's subscriber pages: find by address, a subscription's page with its history, and
 * what an editor may do for a reader (unsubscribe, cadence and sections, resend the
 * confirmation, forget); a list's CSV import with a progress bar, and its export. The same
 * services as the reader's own links, the CLI and /api/v1.
 */

const IMPORT_MAX_BYTES = 200 * 1024 * 1024;

/** How often a running import writes its progress to its row (import-runs.ts). */
const PROGRESS_EVERY_MS = 1000;

function subscriptionUrl(id: string): string {
  return `/admin/subscriptions/${id}`;
}

function searchForm(q: string, listSlug: string, lists: { slug: string; name: string }[]): SafeHtml {
  const options = [{ value: '', label: 'All lists' }, ...lists.map((l) => ({ value: l.slug, label: l.name }))];
  return html`<form method="get" action="/admin/subscribers" role="search" class="card">
${textField({ name: 'q', label: 'Address starts with', type: 'search', value: q, autocomplete: 'off', hint: 'any case' })}
${selectField({ name: 'list', label: 'List', value: listSlug, options })}
<button type="submit">Find</button></form>`;
}

const EVENT_TEXT: Record<string, string> = {
  subscribed: 'subscribed',
  confirmation_sent: 'confirmation email sent',
  confirmation_requeued: 'confirmation email queued again',
  confirmed: 'confirmed',
  preferences_changed: 'preferences changed',
  paused: 'paused',
  resumed: 'resumed',
  unsubscribed: 'unsubscribed',
  bounced: 'bounced',
  complained: 'complained',
  imported: 'imported',
  exported: 'data exported',
};

/** The details of an event worth an editor's eye; the request metadata stays in the log. */
function eventDetails(data: Record<string, unknown>): string {
  const parts: string[] = [];
  if (typeof data.actor === 'string') parts.push(`by ${data.actor}`);
  if (typeof data.method === 'string') parts.push(`via ${data.method}`);
  const changed = data.changed as Record<string, { from?: unknown; to?: unknown } | boolean> | undefined;
  if (changed && typeof changed === 'object') {
    for (const [k, v] of Object.entries(changed))
      parts.push(typeof v === 'object' && v ? `${k}: ${JSON.stringify(v.from)} → ${JSON.stringify(v.to)}` : `${k} changed`);
  }
  for (const key of ['source', 'reason', 'smtp_response', 'response', 'previous_status'])
    if (typeof data[key] === 'string') parts.push(`${key.replace(/_/g, ' ')}: ${data[key] as string}`);
  return parts.join('; ');
}

function subscriptionPage(res: Response, req: Request, h: SubscriptionHistory): SafeHtml {
  const { list, subscriber, subscription: sub } = h;
  const url = subscriptionUrl(sub.id);
  const active = sub.status === 'active' || sub.status === 'pending';
  const zone = list.timezone;
  const events = h.events.map(
    (e) => html`<tr><td>${localTime(e.at, zone)}</td><td>${EVENT_TEXT[e.type] ?? e.type}</td><td>${e.actor ?? ''}</td><td>${eventDetails(e.data)}</td></tr>`,
  );
  const deliveries = h.deliveries.map(
    (d) =>
      html`<tr><td><a href="/admin/sends/${d.sendId}">${d.issueTitle}</a></td><td>${d.status}</td><td>${localTime(d.finishedAt, zone)}</td><td>${d.smtpResponse ?? ''}</td></tr>`,
  );
  const sectionBoxes = list.sections.map((s) =>
    checkboxField({ name: `keep-${s.id}`, label: s.title, checked: !sub.excluded_sections.includes(s.id), value: s.id }),
  );
  return html`<p><a href="/admin/subscribers?q=${enc(subscriber.email)}">← Subscribers</a></p>
<h1>${subscriber.email}</h1>${notice(req)}
<div class="card"><dl class="facts"><dt>List</dt><dd>${list.name}</dd><dt>Name</dt><dd>${subscriber.name || '—'}</dd><dt>Status</dt><dd><span class="badge ${sub.status === 'active' ? 'ok' : sub.status === 'pending' ? '' : 'bad'}">${sub.status}</span>${sub.paused ? ' (paused)' : ''}</dd>
<dt>Cadence</dt><dd>${sub.cadence}</dd><dt>Left out</dt><dd>${sub.excluded_sections.length ? sub.excluded_sections.join(', ') : 'nothing'}</dd>
<dt>Consent</dt><dd>${localTime(sub.consent_at, zone)} (${sub.consent_source})</dd>${sub.confirmed_at ? html`<dt>Confirmed</dt><dd>${localTime(sub.confirmed_at, zone)}</dd>` : ''}</dl></div>
<div class="grid two">
<section class="card" aria-labelledby="prefs-title"><h2 id="prefs-title">Cadence and sections</h2>
${postForm(
  res,
  `${url}/preferences`,
  html`${selectField({
    name: 'cadence',
    label: 'Cadence',
    value: sub.cadence,
    options: [
      { value: 'weekly', label: 'Every weekly issue' },
      { value: 'monthly', label: 'The monthly digest only' },
    ],
  })}
${list.sections.length ? html`<fieldset><legend>Sections they get</legend>${sectionBoxes}</fieldset>` : ''}<button type="submit">Save</button>`,
)}</section>
<section class="card" aria-labelledby="actions-title"><h2 id="actions-title">Actions</h2>
<div class="row">${active ? postForm(res, `${url}/unsubscribe`, html`<button type="submit" class="secondary">Unsubscribe</button>`) : ''}
${sub.status === 'pending' ? postForm(res, `${url}/resend`, html`<button type="submit" class="secondary">Resend the confirmation</button>`) : ''}
<a class="button danger" href="${url}/forget">Forget this person…</a></div>
<p class="muted">An unsubscribed, bounced or complained address comes back only by the person’s own click in their mailbox.</p></section></div>
<section class="card" aria-labelledby="history-title"><h2 id="history-title">History</h2>${events.length ? table('History', ['When', 'What', 'By', 'Details'], events) : html`<p>No events.</p>`}</section>
<section class="card" aria-labelledby="deliveries-title"><h2 id="deliveries-title">Issues sent</h2>${deliveries.length ? table('Issues sent', ['Issue', 'Delivery', 'When', 'SMTP answer'], deliveries) : html`<p>None yet.</p>`}</section>`;
}

function importPage(run: ImportRun, id: string, listSlug: string): { body: SafeHtml; refresh: boolean } {
  if (run.stopped && !run.error)
    run.error =
      'The import stopped: the server running it went away. Rows imported so far are kept; importing the same file again is safe and changes nothing twice.';
  const done = run.report || run.error;
  const percent = run.totalBytes > 0 ? Math.round((100 * run.bytes) / run.totalBytes) : 0;
  const body = html`<p><a href="/admin/lists/${enc(listSlug)}/subscribers/import">← Import another file</a></p><h1>Importing ${run.source}</h1>
<div class="card"><progress max="100" value="${done ? 100 : percent}" aria-label="Import progress">${done ? 100 : percent}%</progress>
<p aria-live="polite">${done ? 'Finished.' : `${percent}% read, ${plural(run.rows, 'row')} so far.`}</p>
${run.error ? html`<p class="alert" role="alert">${run.error}</p>` : ''}
${run.report ? html`<pre class="text-part">${formatImportReport(run.report, run.source).join('\n')}</pre>` : html`<p class="muted">This page refreshes itself every second. <a href="/admin/lists/${enc(listSlug)}/subscribers/imports/${id}">Refresh now</a></p>`}</div>`;
  return { body, refresh: !done };
}

export function subscribersDesk(deps: AppDeps): express.Router {
  const router = express.Router();
  // The reader pages' limits on confirmation emails hold for a resend from the desk too.
  const limits = createSubscribeLimits(deps.redis, { subscribeRatePerIp: deps.config.subscribeRatePerIp, keyPrefix: deps.queues.prefix });
  const service = { db: deps.db, config: deps.config, queues: deps.queues, limits };

  router.get('/subscribers', async (req, res) => {
    const q = str(req.query.q)?.trim() ?? '';
    const listSlug = str(req.query.list) ?? '';
    const lists = await allLists(deps.db);
    const list = listSlug ? lists.find((l) => l.slug === listSlug) : undefined;
    const hits = q ? await searchSubscribers(deps.db, q, { listId: list?.id }) : [];
    const rows = hits.flatMap((h) =>
      h.subscriptions.length === 0
        ? [html`<tr><td>${h.email}</td><td>${h.name}</td><td colspan="3" class="muted">no subscription</td></tr>`]
        : h.subscriptions.map(
            (s) =>
              html`<tr><td><a href="${subscriptionUrl(s.id)}">${h.email}</a></td><td>${h.name}</td><td>${s.listName}</td><td>${s.status}${s.paused ? ' (paused)' : ''}</td><td>${s.cadence}</td></tr>`,
          ),
    );
    const listLinks = lists.map(
      (l) =>
        html`<li>${l.name}: <a href="/admin/lists/${enc(l.slug)}/subscribers/import">import a CSV</a> · <a href="/admin/lists/${enc(l.slug)}/subscribers/export" download>export as CSV</a></li>`,
    );
    deskPage(res, {
      section: 'subscribers',
      title: q ? `“${q}” · Subscribers` : 'Subscribers',
      body: html`<h1>Subscribers</h1>${notice(req)}${searchForm(q, listSlug, lists)}
${q ? html`<section class="card" aria-labelledby="results-title"><h2 id="results-title">${hits.length === 0 ? 'No address starts with that' : `${plural(hits.length, 'subscriber')}${hits.length >= 50 ? ' (the first 50)' : ''}`}</h2>${rows.length ? table('Subscribers found', ['Address', 'Name', 'List', 'Status', 'Cadence'], rows) : ''}</section>` : ''}
${lists.length ? html`<section class="card" aria-labelledby="csv-title"><h2 id="csv-title">Import and export</h2><ul>${listLinks}</ul></section>` : ''}`,
    });
  });

  router.get('/subscriptions/:subscription', async (req, res) => {
    const h = await subscriptionHistory(deps.db, param(req, 'subscription'));
    deskPage(res, { section: 'subscribers', title: `${h.subscriber.email} · ${h.list.name}`, body: subscriptionPage(res, req, h) });
  });

  router.post('/subscriptions/:subscription/unsubscribe', async (req, res) => {
    const h = await subscriptionHistory(deps.db, param(req, 'subscription'), { deliveries: 0 });
    await unsubscribe(deps, h.subscription.id, { ...metaOf(req), method: 'desk', actor: editorOf(res).email });
    res.redirect(303, `${subscriptionUrl(h.subscription.id)}?done=unsubscribed`);
  });

  router.post('/subscriptions/:subscription/preferences', async (req, res) => {
    const h = await subscriptionHistory(deps.db, param(req, 'subscription'), { deliveries: 0 });
    const body = bodyOf(req);
    const keep = new Set(
      Object.keys(body)
        .filter((k) => k.startsWith('keep-'))
        .flatMap((k) => arrayOf(body[k])),
    );
    const cadence = str(body.cadence) as Cadence | undefined;
    await changePreferences(
      deps,
      h.subscription.id,
      { cadence, excludedSections: h.list.sections.map((s) => s.id).filter((id) => !keep.has(id)) },
      { ...metaOf(req), actor: editorOf(res).email },
    );
    res.redirect(303, `${subscriptionUrl(h.subscription.id)}?done=saved`);
  });

  router.post('/subscriptions/:subscription/resend', async (req, res) => {
    const h = await subscriptionHistory(deps.db, param(req, 'subscription'), { deliveries: 0 });
    await resendConfirmation(service, h.subscription.id);
    res.redirect(303, `${subscriptionUrl(h.subscription.id)}?done=resent`);
  });

  router.get('/subscriptions/:subscription/forget', async (req, res) => {
    const h = await subscriptionHistory(deps.db, param(req, 'subscription'), { deliveries: 0 });
    deskPage(res, {
      section: 'subscribers',
      title: `Forget ${h.subscriber.email}?`,
      body: html`<div class="card"><h1>Forget ${h.subscriber.email}?</h1>
<p>This erases the address, its name, every subscription on every list and their history, for good. Only a hash stays, so that no import brings the address back. It cannot be undone.</p>
<div class="row">${postForm(res, `${subscriptionUrl(h.subscription.id)}/forget`, html`<input type="hidden" name="email" value="${h.subscriber.email}"><button type="submit" class="danger">Forget for good</button>`)}
<a class="button secondary" href="${subscriptionUrl(h.subscription.id)}">Keep</a></div></div>`,
    });
  });

  router.post('/subscriptions/:subscription/forget', async (req, res) => {
    const h = await subscriptionHistory(deps.db, param(req, 'subscription'), { deliveries: 0 });
    // The address on the confirmation page must be the one forgotten: a stale page cannot erase someone else.
    if (str(bodyOf(req).email)?.toLowerCase() !== h.subscriber.email.toLowerCase())
      throw new AppError('conflict', 'this page is out of date: open the subscription again');
    await forgetSubscriber(deps.db, h.subscriber.email);
    res.redirect(303, '/admin/subscribers?done=forgotten');
  });

  router.get('/lists/:slug/subscribers/export', async (req, res) => {
    const list = await getListBySlug(deps.db, param(req, 'slug'));
    res.status(200).set({
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="${list.slug}-subscribers.csv"`,
      'Cache-Control': 'no-store',
    });
    const stream = exportSubscribers(deps.db, list.id);
    req.on('close', () => stream.destroy());
    stream.pipe(res);
  });

  router.get('/lists/:slug/subscribers/import', async (req, res) => {
    const list = await getListBySlug(deps.db, param(req, 'slug'));
    deskPage(res, {
      section: 'subscribers',
      title: `Import · ${list.name}`,
      body: html`<p><a href="/admin/subscribers">← Subscribers</a></p><h1>Import subscribers into ${list.name}</h1>
<div class="card">${postForm(
        res,
        `/admin/lists/${enc(list.slug)}/subscribers/import`,
        html`<div class="field"><label for="file">CSV file <span class="hint" id="file-hint">columns email, name, cadence, status (as <code>broadsheet subscribers import</code> reads them)</span></label><input id="file" name="file" type="file" required accept=".csv,text/csv" aria-describedby="file-hint"></div>
${checkboxField({ name: 'confirmed', label: 'These people already agreed: make them active without a confirmation email', checked: false })}
<button type="submit">Import</button>`,
        { multipart: true },
      )}<p class="muted">Bad rows are reported by line and the good ones kept; an unsubscribed, bounced or forgotten address is never brought back.</p></div>`,
    });
  });

  router.post('/lists/:slug/subscribers/import', async (req, res) => {
    const list = await getListBySlug(deps.db, param(req, 'slug'));
    const id = randomUUID();
    const dir = path.join(deps.config.dataDir, 'imports');
    await fs.promises.mkdir(dir, { recursive: true });
    const file = path.join(dir, `${id}.csv`);
    let saved;
    try {
      saved = await saveMultipartFile(req, file, { fileSize: IMPORT_MAX_BYTES, files: 1 });
    } catch (err) {
      await fs.promises.rm(file, { force: true });
      throw err;
    }
    await startImportRun(deps.db, { id, listId: list.id, editor: editorOf(res).email, source: saved.name, totalBytes: saved.bytes });
    // Runs after the answer: the page that follows shows its progress, then its report, from the
    // import's row, which this process writes each second (whichever process serves the page).
    const progress = { bytes: 0, rows: 0 };
    const writing = setInterval(() => void recordImportProgress(deps.db, id, progress).catch(() => undefined), PROGRESS_EVERY_MS);
    void importSubscribers(deps.db, deps.queues, list.slug, fs.createReadStream(file), {
      confirmed: str(bodyOf(req).confirmed) !== undefined || saved.fields.confirmed !== undefined,
      onProgress: (p) => Object.assign(progress, { bytes: p.bytes, rows: p.rows }),
    })
      .then((report) => ({ report }))
      .catch((err: unknown) => {
        if (!(err instanceof AppError)) console.error('desk import failed', err);
        return { error: err instanceof AppError ? err.message : 'the import failed; see the server log' };
      })
      .then((outcome) => {
        clearInterval(writing);
        return finishImportRun(deps.db, id, outcome);
      })
      .catch((err: unknown) => console.error('desk import: its outcome could not be written', err))
      .finally(() => void fs.promises.rm(file, { force: true }));
    res.redirect(303, `/admin/lists/${enc(list.slug)}/subscribers/imports/${id}`);
  });

  router.get('/lists/:slug/subscribers/imports/:id', async (req, res) => {
    const list = await getListBySlug(deps.db, param(req, 'slug'));
    const run = await findImportRun(deps.db, param(req, 'id'));
    if (!run || run.listId !== list.id) throw new AppError('not_found', 'no such import of this list (imports are shown for a week)');
    const { body, refresh } = importPage(run, param(req, 'id'), list.slug);
    // No script: the page asks again each second until the import is done (a refresh header, allowed by any policy).
    if (refresh) res.set('Refresh', '1');
    deskPage(res, { section: 'subscribers', title: `Import · ${list.name}`, body });
  });

  return router;
}
