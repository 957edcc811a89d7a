import express, { type Response } from 'express';
import type { AppDeps } from '../http/deps';
import { html, type SafeHtml } from '../http/page';
import { param } from '../http/request';
import { issueState } from '../issues/repository';
import { findListById } from '../lists/repository';
import { getSend, liveProgress, sendReport, type LiveProgress, type SendReport } from '../sending/report';
import { deskPage, postForm, table } from './layout';
import { enc, localTime, plural, sendLog, stateBadge } from './view';
import { sendEventsOf } from '../sending/events';

/**
 * A send's page: its live progress, then its report. The numbers are in the page as it loads
 * (it works without script); `static/desk/send-progress.js` keeps them current from the
 * Server-Sent Events of /events and reloads the page once the send is finished, for the report.
 */

function seconds(s: number | null): string {
  if (s === null) return '—';
  return s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
}

const CIRCUIT_TEXT: Record<LiveProgress['circuit'], string> = {
  closed: 'closed: mail flows',
  waiting: 'waiting: SMTP refuses, the send tries again by itself',
  paused: 'paused',
};
const circuitText = (p: LiveProgress) => (p.circuit === 'waiting' && p.circuitText ? `waiting: ${p.circuitText}` : CIRCUIT_TEXT[p.circuit]);

function progressView(p: LiveProgress): SafeHtml {
  const done = p.recipients - p.pending;
  return html`<section class="card" aria-labelledby="progress-title" data-live="progress"><h2 id="progress-title">Progress</h2>
<progress id="bar" max="${Math.max(1, p.recipients)}" value="${done}" aria-label="Messages done">${done} of ${p.recipients}</progress>
<dl class="facts" aria-live="polite">
<dt>Status</dt><dd data-field="status">${p.status}</dd>
<dt>Sent</dt><dd data-field="sent">${p.sent}</dd>
<dt>Pending</dt><dd data-field="pending">${p.pending}</dd>
<dt>Not sent</dt><dd data-field="notSent">${p.notSent}</dd>
${p.finished ? '' : html`<dt>Rate</dt><dd><span data-field="rate">${p.rate}</span> messages/s</dd><dt>Time left</dt><dd data-field="eta">${seconds(p.etaSeconds)}</dd>`}
<dt>Circuit</dt><dd data-field="circuit">${circuitText(p)}</dd>
</dl></section>`;
}

function reportView(r: SendReport): SafeHtml {
  const row = (label: string, n: number, hint = '') =>
    html`<tr><th scope="row">${label}${hint ? html` <span class="hint">${hint}</span>` : ''}</th><td class="num">${n.toLocaleString('en')}</td></tr>`;
  const answers = r.smtpAnswers.map((a) => html`<tr><td><code>${a.answer}</code></td><td class="num">${a.count.toLocaleString('en')}</td></tr>`);
  return html`<section class="card" aria-labelledby="report-title"><h2 id="report-title">Report</h2>
<div class="table-wrap" role="region" aria-label="Report" tabindex="0"><table><tbody>
${row('Recipients', r.recipients)}${row('Delivered', r.delivered, 'accepted by the receiving server')}${row('Bounced', r.bounced + r.bouncedLater, r.bouncedLater ? `${r.bouncedLater} reported later` : '')}
${row('Complained', r.complained, 'marked as spam after this email')}${row('Suppressed', r.suppressed, 'left, bounced or paused before their turn')}${row('Failed', r.failed)}
${row('Unsubscribed', r.unsubscribed, 'through this email, before any later one')}${r.cancelled ? row('Cancelled', r.cancelled) : ''}
</tbody></table></div>
<h3>Most common SMTP answers</h3>${answers.length ? table('SMTP answers', ['Answer', 'Messages'], answers, { numeric: [1] }) : html`<p>None yet.</p>`}
<p class="muted">No opens or clicks: Broadsheet does not track its readers.</p></section>`;
}

function controls(res: Response, listSlug: string, issueSlug: string, status: string): SafeHtml {
  const url = `/admin/lists/${enc(listSlug)}/issues/${enc(issueSlug)}`;
  const button = (action: string, label: string, cls = '') =>
    postForm(res, `${url}/${action}`, html`<button type="submit"${cls ? html` class="${cls}"` : ''}>${label}</button>`);
  if (status === 'sending' || status === 'planning')
    return html`<div class="row">${button('pause', 'Pause', 'secondary')}${button('cancel', 'Cancel the rest', 'danger')}</div>`;
  if (status === 'paused') return html`<div class="row">${button('resume', 'Resume')}${button('cancel', 'Cancel the rest', 'danger')}</div>`;
  return html``;
}

export function sendsDesk(deps: AppDeps): express.Router {
  const router = express.Router();

  router.get('/sends/:sendId', async (req, res) => {
    const send = await getSend(deps.db, param(req, 'sendId'));
    const [issue, list] = await Promise.all([
      deps.db.selectFrom('issues').select(['slug', 'title']).where('id', '=', send.issue_id).executeTakeFirstOrThrow(),
      findListById(deps.db, send.list_id),
    ]);
    const live = await liveProgress(deps.db, send.id, list?.timezone);
    const report = live.finished || live.status === 'paused' ? await sendReport(deps.db, send.id) : undefined;
    const zone = list?.timezone ?? 'UTC';
    const log = await sendEventsOf(deps.db, send.issue_id);
    deskPage(res, {
      section: 'lists',
      title: `Send · ${issue.title}`,
      // Live only while it runs: a finished send's page has no script at all.
      scripts: live.finished ? [] : ['/admin/static/send-progress.js'],
      body: html`<p><a href="/admin/lists/${enc(list?.slug ?? '')}/issues/${enc(issue.slug)}">← ${issue.title}</a></p>
<h1>${live.finished ? 'Sent' : 'Sending'}: ${issue.title}</h1>
<div class="card"><dl class="facts"><dt>State</dt><dd>${stateBadge(issueState(send.status))}</dd><dt>To</dt><dd>${send.planned_at || live.recipients > 0 ? plural(live.recipients, `${send.cadence} subscriber`) : `the ${send.cadence} subscribers`} of ${list?.name ?? ''}</dd>
<dt>Started</dt><dd>${localTime(send.started_at, zone) || 'not yet'}</dd>${send.finished_at ? html`<dt>Finished</dt><dd>${localTime(send.finished_at, zone)}</dd>` : ''}
${send.pause_reason ? html`<dt>Paused because</dt><dd>${send.pause_reason}</dd>` : ''}</dl>
${controls(res, list?.slug ?? '', issue.slug, send.status)}</div>
<div id="live" data-events="/admin/sends/${send.id}/events" data-status="${send.status}">${progressView(live)}</div>
${report ? reportView(report) : html`<p class="muted" id="report-later">The report follows when the send is finished.</p>`}
<section class="card" aria-labelledby="log-title"><h2 id="log-title">Log</h2>${sendLog(log, zone)}</section>`,
    });
  });

  // Server-Sent Events: the progress every PROGRESS_EVENTS_MS until the send is finished. A closed
  // connection (the editor left the page) stops the loop.
  router.get('/sends/:sendId/events', async (req, res) => {
    const send = await getSend(deps.db, param(req, 'sendId'));
    const zone = (await findListById(deps.db, send.list_id))?.timezone;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no', Connection: 'keep-alive' });
    let open = true;
    req.on('close', () => {
      open = false;
    });
    while (open) {
      let p: LiveProgress;
      try {
        p = await liveProgress(deps.db, send.id, zone);
      } catch {
        // The database away for a moment: the page keeps its last numbers and hears again later.
        res.write(': waiting\n\n');
        await new Promise((r) => setTimeout(r, deps.config.progressEventsMs));
        continue;
      }
      res.write(`event: progress\ndata: ${JSON.stringify({ ...p, eta: seconds(p.etaSeconds), circuitText: circuitText(p) })}\n\n`);
      if (p.finished) break;
      await new Promise((r) => setTimeout(r, deps.config.progressEventsMs));
    }
    res.end();
  });

  return router;
}
