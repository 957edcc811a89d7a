import express from 'express';
import { DateTime } from 'luxon';
import type { AppDeps } from '../http/deps';
import { html, type SafeHtml } from '../http/page';
import { allLists } from '../lists/repository';
import { monthKey } from '../schedules/next-slot';
import { count, inZone, plural, seg } from './format';
import { deskPage } from './layout';
import { listOverview, runningSends, type ListOverview, type RunningSend } from './overview';

function lastSendLine(o: ListOverview): SafeHtml {
  const last = o.lastSend;
  if (!last) return html`none yet`;
  const p = last.progress;
  const result =
    last.send.status === 'cancelled'
      ? html`<span class="badge bad">cancelled</span> ${count(p.sent)} of ${count(p.recipients)} sent`
      : html`<span class="badge ok">done</span> ${count(p.sent)} of ${count(p.recipients)} delivered${p.notSent > 0 ? `, ${count(p.notSent)} not (bounced, failed or suppressed)` : ''}`;
  const when = last.send.finished_at ? inZone(last.send.finished_at, o.list.timezone) : '';
  return html`<a href="/admin/sends/${last.send.id}">${last.title}</a>, ${when}: ${result}`;
}

function nextWeeklyLine(o: ListOverview): SafeHtml {
  const slug = seg(o.list.slug);
  if (!o.nextWeekly) return html`no weekly slot (<a href="/admin/lists/${slug}/settings">set one</a>)`;
  const holder = o.nextWeekly.issue;
  return html`${inZone(o.nextWeekly.at, o.list.timezone)}: ${
    holder
      ? html`<a href="/admin/lists/${slug}/issues/${seg(holder.slug)}">${holder.title}</a>`
      : html`<strong>no issue yet</strong> (<a href="/admin/lists/${slug}/issues">schedule one</a>)`
  }${o.scheduled > 0 ? html`; ${plural(o.scheduled, 'more send')} scheduled later` : ''}`;
}

function digestLine(o: ListOverview): SafeHtml {
  const d = o.digest;
  const slug = seg(o.list.slug);
  if (!d) return html`no monthly slot (<a href="/admin/lists/${slug}/settings">set one</a>)`;
  const month = monthKey(d.year, d.month);
  const monthName = DateTime.fromObject({ year: d.year, month: d.month }).toFormat('LLLL yyyy');
  const what =
    d.source === 'curated'
      ? html`curated by an editor`
      : d.source === 'generated'
        ? html`generated from ${plural(d.weeklies, 'weekly issue')}`
        : html`<strong>nothing to send</strong>: no weekly issue of ${monthName} has been sent`;
  return html`${monthName}, goes ${d.goesAt ? inZone(d.goesAt, o.list.timezone) : 'at the monthly slot'}: ${what}${d.source === 'curated' ? html` (the month has ${plural(d.weeklies, 'sent weekly', 'sent weeklies')})` : ''} · <a href="/admin/lists/${slug}/digest?month=${month}">preview</a>`;
}

function listCard(o: ListOverview): SafeHtml {
  const slug = seg(o.list.slug);
  return html`<section class="card" aria-labelledby="list-${o.list.slug}"><p class="kicker">${o.list.slug}</p><h2 id="list-${o.list.slug}"><a href="/admin/lists/${slug}">${o.list.name}</a></h2><dl class="facts">
<dt>Subscribers</dt><dd>${count(o.active.weekly)} weekly · ${count(o.active.monthly)} monthly${o.pending > 0 ? html` · ${count(o.pending)} pending` : ''}</dd>
<dt>Last send</dt><dd>${lastSendLine(o)}</dd>
<dt>Next weekly</dt><dd>${nextWeeklyLine(o)}</dd>
<dt>Next digest</dt><dd>${digestLine(o)}</dd>
</dl><div class="row"><a href="/admin/lists/${slug}/issues">Issues</a><a href="/admin/lists/${slug}/digest">Digest</a><a href="/admin/subscribers?list=${slug}">Subscribers</a><a href="/admin/lists/${slug}/settings">Settings</a></div></section>`;
}

/** A running send's progress, for the home; its own page (`/admin/sends/:id`) is the live one. */
export function runningCard(r: RunningSend): SafeHtml {
  const p = r.progress;
  const done = p.sent + p.notSent;
  const state =
    p.circuit === 'paused'
      ? html`<span class="badge bad">paused</span>${p.pauseReason ? ` ${p.pauseReason}` : ''}`
      : p.circuit === 'waiting'
        ? html`<span class="badge bad">retrying</span> ${p.circuitText ?? 'SMTP trouble, backing off'}`
        : html`<span class="badge ok">${r.send.status}</span>`;
  return html`<section class="card"><p class="kicker">${r.list.name}</p><h3><a href="/admin/sends/${r.send.id}">${r.title}</a></h3><p>${state}</p><progress max="${Math.max(p.recipients, 1)}" value="${done}" aria-label="Sent of ${r.title}">${count(done)} of ${count(p.recipients)}</progress><p class="muted">${count(p.sent)} sent of ${count(p.recipients)}, ${count(p.pending)} pending${p.rate > 0 ? `, ${p.rate}/s` : ''}${p.etaSeconds ? `, about ${Math.ceil(p.etaSeconds / 60)} min left` : ''}</p></section>`;
}

/** GET /admin: every list at a glance, and what is going out now. */
export function homeDesk(deps: AppDeps): express.Router {
  const router = express.Router();
  router.get('/', async (_req, res) => {
    const now = deps.clock?.() ?? new Date();
    const lists = await allLists(deps.db);
    const [overviews, running] = await Promise.all([Promise.all(lists.map((list) => listOverview(deps.db, list, now))), runningSends(deps.db)]);
    const empty = html`<div class="card"><p>No lists yet.${res.locals.editor?.role === 'owner' ? html` <a href="/admin/lists/new">Create the first one</a>.` : ' An owner can create one.'}</p></div>`;
    deskPage(res, {
      section: 'home',
      title: 'Home',
      body: html`<h1>Home</h1>${running.length > 0 ? html`<h2>Going out now</h2><div class="grid two">${running.map(runningCard)}</div>` : ''}${
        overviews.length > 0 ? html`<h2 class="visually-hidden">Lists</h2><div class="grid two">${overviews.map(listCard)}</div>` : empty
      }`,
    });
  });
  return router;
}
