import express, { type Request, type Response } from 'express';
import type { IssueRow, List } from '../db/schema';
import { AppError } from '../errors';
import type { AppDeps } from '../http/deps';
import { html, type SafeHtml } from '../http/page';
import { arrayOf, bodyOf, param, str } from '../http/request';
import type { LocatedProblem } from '../issues/problem-lines';
import { previewAsReader, type PreviewReader } from '../issues/reader-preview';
import { assetBaseUrl, getIssue, issueContent, issueState, listIssues } from '../issues/repository';
import { loadTemplates, type Templates } from '../issues/templates';
import { uploadIssue, UPLOAD_LIMITS, type IssueUpload, type UploadResult } from '../issues/upload';
import { getListBySlug } from '../lists/repository';
import { nextFreeWeeklySlot, scheduleIssue, unscheduleIssue, type ScheduleWhen } from '../schedules/service';
import { findSendOfIssue } from '../sending/control';
import { sendAction, sendTest, type SendAction } from '../sending/editor';
import { countRecipients } from '../sending/report';
import { coverTitles } from '../sending/repository';
import { findSubscriberByEmail, findSubscription } from '../subscribers/repository';
import { deskPage, postForm, table, textArea } from './layout';
import { readMultipart } from './multipart';
import { editorOf } from './session';
import { enc, localInput, localTime, notice, plural, sendLog, stateBadge } from './view';
import { sendEventsOf } from '../sending/events';

/**
 * The desk's issue pages: a list's issues, upload (files, zip or pasted JSON) with the
 * problems shown by pointer and line, preview as a chosen reader, test send, schedule,
 * unschedule, send now (after a confirmation naming the recipients), pause, resume, cancel.
 * Every change goes through the services the CLI and /api/v1 use.
 */

let templates: Templates | undefined;
const templatesOnce = () => (templates ??= loadTemplates());

const listOf = (deps: AppDeps, req: Request) => getListBySlug(deps.db, param(req, 'slug'));
const issuesUrl = (list: List) => `/admin/lists/${enc(list.slug)}/issues`;
const issueUrl = (list: List, slug: string) => `${issuesUrl(list)}/${enc(slug)}`;
const now = (deps: AppDeps) => deps.clock?.() ?? new Date();

function problemsView(list: List, result: Extract<UploadResult, { ok: false }>, res: Response): SafeHtml {
  const rows = result.problems.map(
    (p: LocatedProblem) => html`<tr><td class="num">${p.line ?? ''}</td><td><code>${p.pointer || '(file)'}</code></td><td>${p.message}</td></tr>`,
  );
  return html`<div class="card" role="alert" aria-labelledby="problems-title">
<h2 id="problems-title">${plural(result.problems.length, 'problem')}: nothing was stored</h2>
${table('Problems', ['Line', 'Where', 'Problem'], rows, { numeric: [0] })}
<p class="muted">The same list as <code>broadsheet validate</code> prints: <code>POINTER: message</code>, with the line in the JSON below.</p>
</div>
<div class="card"><h2>Fix it here</h2>
${postForm(
  res,
  `${issuesUrl(list)}/paste`,
  html`<input type="hidden" name="previous" value="${result.uploadId}">${textArea({ name: 'json', label: 'Issue JSON', value: result.text, rows: 18, hint: 'images you uploaded with it are kept' })}<button type="submit">Check and store</button>`,
)}</div>`;
}

function uploadForms(list: List, res: Response): SafeHtml {
  return html`<div class="grid two">
<section class="card" aria-labelledby="upload-title"><h2 id="upload-title">Upload an issue</h2>
${postForm(
  res,
  `${issuesUrl(list)}/upload`,
  html`<div class="field"><label for="files">The issue JSON and its images, or a zip of its folder <span class="hint" id="files-hint">up to ${UPLOAD_LIMITS.bytes / 1024 / 1024} MB</span></label>
<input id="files" name="files" type="file" multiple required accept=".json,.zip,application/json,application/zip,image/*" aria-describedby="files-hint"></div>
<button type="submit">Check and store</button>`,
  { multipart: true },
)}</section>
<section class="card" aria-labelledby="paste-title"><h2 id="paste-title">Or paste JSON</h2>
${postForm(res, `${issuesUrl(list)}/paste`, html`${textArea({ name: 'json', label: 'Issue JSON', rows: 8, hint: 'images: https URLs, or files this list already stores' })}<button type="submit">Check and store</button>`)}
</section></div>`;
}

async function renderUpload(deps: AppDeps, req: Request, res: Response, upload: IssueUpload): Promise<void> {
  const list = await listOf(deps, req);
  const result = await uploadIssue(deps.db, { list, upload, dataDir: deps.config.dataDir, now: now(deps) });
  if (result.ok) return res.redirect(303, `${issueUrl(list, result.issue.slug)}?done=${result.replaced ? 'replaced' : 'imported'}`);
  // 200: the page is the upload's answer (its problems), not a failed request; see routes.ts, 5.
  deskPage(res, {
    section: 'lists',
    title: `Problems · ${list.name}`,
    body: html`<p><a href="${issuesUrl(list)}">← ${list.name}: issues</a></p><h1>The issue has problems</h1>${problemsView(list, result, res)}`,
  });
}

/** The reader a preview is for, from the query: a subscriber's own choices, or a cadence and sections to leave out. */
async function readerOf(deps: AppDeps, list: List, req: Request): Promise<{ reader: PreviewReader; label: string }> {
  const as = str(req.query.as)?.trim();
  if (as) {
    const person = await findSubscriberByEmail(deps.db, as);
    const sub = person && (await findSubscription(deps.db, list.id, person.id));
    if (!person || !sub) throw new AppError('not_found', `${as} has no subscription to ${list.name}`);
    return { reader: { cadence: sub.cadence, excludedSections: sub.excluded_sections, name: person.name }, label: `${person.email} (${sub.cadence})` };
  }
  const cadence = str(req.query.cadence) === 'monthly' ? 'monthly' : 'weekly';
  const skip = arrayOf(req.query.skip);
  return { reader: { cadence, excludedSections: skip }, label: `a ${cadence} reader${skip.length ? ` without ${skip.join(', ')}` : ''}` };
}

export async function renderIssuePreview(deps: AppDeps, list: List, issue: IssueRow, reader: PreviewReader) {
  return previewAsReader({
    issue: issueContent(issue),
    list,
    publicUrl: deps.config.publicUrl,
    assetBaseUrl: assetBaseUrl(deps.config.publicUrl, list.slug, issue.slug),
    reader,
    coverTitles: await coverTitles(deps.db, issue),
    templates: templatesOnce(),
  });
}

/**
 * The email itself, for the preview's frames: its own policy (its styles are inline, as in
 * any email; no script at all), framed by desk pages only.
 */
export function sendEmailHtml(res: Response, markup: string): void {
  res
    .status(200)
    .set({
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy':
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox",
      'X-Frame-Options': 'SAMEORIGIN',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
    })
    .send(markup);
}

/** Phone and desktop frames of an email, as `broadsheet preview` shows them. */
export function previewFrames(src: string, title: string): SafeHtml {
  return html`<div class="frames">
<figure><figcaption>Phone, 375 px</figcaption><iframe class="phone" title="${title} at phone width" src="${src}"></iframe></figure>
<figure><figcaption>Desktop, 700 px</figcaption><iframe class="desktop" title="${title} at desktop width" src="${src}"></iframe></figure>
</div>`;
}

function actions(
  res: Response,
  list: List,
  issue: IssueRow,
  state: ReturnType<typeof issueState>,
  sendId: string | undefined,
  scheduledAt: Date | null,
  nextSlot: Date | undefined,
): SafeHtml {
  const url = issueUrl(list, issue.slug);
  const button = (action: string, label: string, cls = '') =>
    postForm(res, `${url}/${action}`, html`<button type="submit"${cls ? html` class="${cls}"` : ''}>${label}</button>`);
  const schedule = html`<section class="card" aria-labelledby="schedule-title"><h2 id="schedule-title">${state === 'scheduled' ? 'Move the schedule' : 'Schedule'}</h2>
${postForm(
  res,
  `${url}/schedule`,
  html`<fieldset><legend class="visually-hidden">When</legend>
${list.weekly_slot ? html`<div class="choice"><input type="radio" id="when-next" name="when" value="next"${state === 'scheduled' ? '' : html` checked`}><label for="when-next">The next free weekly slot${nextSlot ? html` <span class="hint">${localTime(nextSlot, list.timezone)}</span>` : ''}</label></div>` : ''}
<div class="choice"><input type="radio" id="when-at" name="when" value="at"${list.weekly_slot && state !== 'scheduled' ? '' : html` checked`}><label for="when-at">At a date and time</label></div>
<div class="field"><label for="at">Date and time <span class="hint" id="at-hint">in ${list.timezone}, the list's zone</span></label><input id="at" name="at" type="datetime-local" value="${scheduledAt ? localInput(scheduledAt, list.timezone) : ''}" aria-describedby="at-hint"></div>
</fieldset><button type="submit">${state === 'scheduled' ? 'Move' : 'Schedule'}</button>`,
)}</section>`;
  const parts: SafeHtml[] = [];
  if (state === 'draft' || state === 'scheduled') {
    parts.push(schedule);
    parts.push(
      html`<section class="card" aria-labelledby="now-title"><h2 id="now-title">Send now</h2><p>To every ${issue.kind === 'digest' ? 'monthly' : 'weekly'} subscriber, after a confirmation.</p><p><a class="button" href="${url}/send">Send now…</a></p>${state === 'scheduled' ? html`<div class="row">${button('unschedule', 'Unschedule', 'secondary')}</div>` : ''}</section>`,
    );
  }
  if (state === 'sending')
    parts.push(
      html`<section class="card"><h2>Control</h2><div class="row">${button('pause', 'Pause', 'secondary')}${button('cancel', 'Cancel the rest', 'danger')}</div></section>`,
    );
  if (state === 'paused')
    parts.push(
      html`<section class="card"><h2>Control</h2><div class="row">${button('resume', 'Resume')}${button('cancel', 'Cancel the rest', 'danger')}</div></section>`,
    );
  if (sendId)
    parts.push(
      html`<section class="card"><h2>The send</h2><p><a href="/admin/sends/${sendId}">${state === 'sent' || state === 'cancelled' ? 'The send’s report' : 'The send’s live progress'} →</a></p></section>`,
    );
  return html`<div class="grid two">${parts}</div>`;
}

function previewForm(list: List, issue: IssueRow): SafeHtml {
  const sections = issueContent(issue).sections;
  const boxes = sections.map(
    (s) => html`<div class="choice"><input type="checkbox" id="skip-${s.id}" name="skip" value="${s.id}"><label for="skip-${s.id}">${s.title}</label></div>`,
  );
  return html`<section class="card" aria-labelledby="preview-title"><h2 id="preview-title">Preview as a reader</h2>
<form method="get" action="${issueUrl(list, issue.slug)}/preview">
<div class="field"><label for="cadence">Cadence</label><select id="cadence" name="cadence"><option value="weekly">Weekly reader</option><option value="monthly">Monthly reader</option></select></div>
<fieldset><legend>Sections they opted out of</legend>${boxes}</fieldset>
<div class="field"><label for="as">Or as a subscriber <span class="hint" id="as-hint">their own cadence and sections</span></label><input id="as" name="as" type="email" aria-describedby="as-hint" autocomplete="off"></div>
<button type="submit" class="secondary">Preview</button></form></section>`;
}

const ACTION_DONE: Record<Exclude<SendAction, 'status' | 'send'>, string> = { pause: 'paused', resume: 'resumed', cancel: 'cancelled' };

export function issuesDesk(deps: AppDeps): express.Router {
  const router = express.Router();

  router.get('/lists/:slug/issues', async (req, res) => {
    const list = await listOf(deps, req);
    const issues = await listIssues(deps.db, list.id);
    const rows = issues.map(
      (i) =>
        html`<tr><td><a href="${issueUrl(list, i.slug)}">${i.title}</a></td><td>${i.slug}</td><td>${i.kind}</td><td>${i.date}</td><td>${stateBadge(i.state)}${i.state === 'scheduled' && i.scheduledAt ? html` <span class="muted">${localTime(i.scheduledAt, list.timezone)}</span>` : ''}</td></tr>`,
    );
    deskPage(res, {
      section: 'lists',
      title: `Issues · ${list.name}`,
      body: html`<p><a href="/admin/lists/${enc(list.slug)}">← ${list.name}</a></p><h1>Issues of ${list.name}</h1>${notice(req)}
${uploadForms(list, res)}
<section class="card" aria-labelledby="all-title"><h2 id="all-title">All issues</h2>${rows.length ? table('Issues', ['Title', 'Slug', 'Kind', 'Date', 'State'], rows) : html`<p>No issue yet: upload the first one above.</p>`}</section>`,
    });
  });

  router.post('/lists/:slug/issues/upload', async (req, res) => {
    const { files } = await readMultipart(req, { fileSize: UPLOAD_LIMITS.bytes, files: UPLOAD_LIMITS.files });
    if (files.length === 0) throw new AppError('invalid_input', 'choose the issue JSON (and its images), or a zip');
    const zip = files.find((f) => /\.zip$/i.test(f.name) || f.data.subarray(0, 4).equals(Buffer.from('PK\u0003\u0004', 'latin1')));
    const upload: IssueUpload =
      zip && files.length === 1 ? { kind: 'zip', data: zip.data } : { kind: 'files', files: files.map((f) => ({ name: f.name, data: f.data })) };
    await renderUpload(deps, req, res, upload);
  });

  router.post('/lists/:slug/issues/paste', async (req, res) => {
    const body = bodyOf(req);
    const text = str(body.json) ?? '';
    if (text.trim() === '') throw new AppError('invalid_input', 'paste the issue JSON first');
    await renderUpload(deps, req, res, { kind: 'json', text, previous: str(body.previous) });
  });

  router.get('/lists/:slug/issues/:issue', async (req, res) => {
    const list = await listOf(deps, req);
    const issue = await getIssue(deps.db, list, param(req, 'issue'));
    const send = await findSendOfIssue(deps.db, issue.id);
    const state = issueState(send?.status);
    const nextSlot =
      list.weekly_slot && (state === 'draft' || state === 'scheduled')
        ? await nextFreeWeeklySlot(deps.db, list, now(deps), send?.id).catch(() => undefined)
        : undefined;
    const editor = editorOf(res);
    const log = await sendEventsOf(deps.db, issue.id);
    deskPage(res, {
      section: 'lists',
      title: `${issue.title} · ${list.name}`,
      body: html`<p><a href="${issuesUrl(list)}">← ${list.name}: issues</a></p><h1>${issue.title}</h1>${notice(req)}
<div class="card"><dl class="facts"><dt>State</dt><dd>${stateBadge(state)}</dd><dt>Slug</dt><dd>${issue.slug}</dd><dt>Kind</dt><dd>${issue.kind}</dd><dt>Date</dt><dd>${issue.date}</dd>
${send?.scheduled_at ? html`<dt>${state === 'scheduled' ? 'Goes at' : 'Scheduled for'}</dt><dd>${localTime(send.scheduled_at, list.timezone)}</dd>` : ''}
${send?.pause_reason ? html`<dt>Paused because</dt><dd>${send.pause_reason}</dd>` : ''}</dl></div>
<div class="grid two">${previewForm(list, issue)}
<section class="card" aria-labelledby="test-title"><h2 id="test-title">Test email</h2><p>One email to ${editor.email}, its subject marked [TEST].</p>${postForm(res, `${issueUrl(list, issue.slug)}/test`, html`<button type="submit" class="secondary">Send me a test</button>`)}</section></div>
${actions(res, list, issue, state, send?.id, send?.scheduled_at ?? null, nextSlot)}
<section class="card" aria-labelledby="log-title"><h2 id="log-title">Log</h2>${sendLog(log, list.timezone)}</section>`,
    });
  });

  router.get('/lists/:slug/issues/:issue/preview', async (req, res) => {
    const list = await listOf(deps, req);
    const issue = await getIssue(deps.db, list, param(req, 'issue'));
    const { reader, label } = await readerOf(deps, list, req);
    const preview = await renderIssuePreview(deps, list, issue, reader);
    const query = new URLSearchParams(req.query as Record<string, string>).toString();
    const monthlyNote =
      issue.kind === 'weekly' && reader.cadence === 'monthly'
        ? html`<p class="notice">Monthly readers do not get weekly issues by email: they get this issue’s stories in the monthly digest. This is the weekly as such a reader would see it on the web.</p>`
        : '';
    deskPage(res, {
      section: 'lists',
      title: `Preview · ${issue.title}`,
      body: html`<p><a href="${issueUrl(list, issue.slug)}">← ${issue.title}</a></p><h1>Preview as ${label}</h1>${monthlyNote}
<div class="card"><dl class="facts"><dt>Subject</dt><dd>${preview.subject}</dd><dt>Preheader</dt><dd>${preview.preheader}</dd><dt>Left out</dt><dd>${preview.omitted.length ? preview.omitted.join(', ') : 'nothing'}</dd></dl></div>
${previewFrames(`${issueUrl(list, issue.slug)}/preview/email.html?${query}`, issue.title)}
<details class="card"><summary>Text part</summary><pre class="text-part">${preview.text}</pre></details>`,
    });
  });

  router.get('/lists/:slug/issues/:issue/preview/email.html', async (req, res) => {
    const list = await listOf(deps, req);
    const issue = await getIssue(deps.db, list, param(req, 'issue'));
    const { reader } = await readerOf(deps, list, req);
    sendEmailHtml(res, (await renderIssuePreview(deps, list, issue, reader)).html);
  });

  router.post('/lists/:slug/issues/:issue/test', async (req, res) => {
    const list = await listOf(deps, req);
    const issue = await getIssue(deps.db, list, param(req, 'issue'));
    await sendTest(deps, issue, editorOf(res).email, 30_000, editorOf(res).email);
    res.redirect(303, `${issueUrl(list, issue.slug)}?done=test`);
  });

  router.post('/lists/:slug/issues/:issue/schedule', async (req, res) => {
    const list = await listOf(deps, req);
    const body = bodyOf(req);
    const at = str(body.at)?.trim();
    const when: ScheduleWhen =
      str(body.when) === 'next'
        ? { next: true }
        : at
          ? { at }
          : (() => {
              throw new AppError('invalid_input', 'give a date and time, or choose the next free weekly slot');
            })();
    const { rescheduled } = await scheduleIssue(deps.db, {
      list: list.slug,
      issue: param(req, 'issue'),
      when,
      now: now(deps),
      batchSize: deps.config.sendBatchSize,
      actor: editorOf(res).email,
    });
    res.redirect(303, `${issueUrl(list, param(req, 'issue'))}?done=${rescheduled ? 'rescheduled' : 'scheduled'}`);
  });

  router.post('/lists/:slug/issues/:issue/unschedule', async (req, res) => {
    const list = await listOf(deps, req);
    await unscheduleIssue(deps.db, { list: list.slug, issue: param(req, 'issue'), actor: editorOf(res).email });
    res.redirect(303, `${issueUrl(list, param(req, 'issue'))}?done=unscheduled`);
  });

  router.get('/lists/:slug/issues/:issue/send', async (req, res) => {
    const list = await listOf(deps, req);
    const issue = await getIssue(deps.db, list, param(req, 'issue'));
    const cadence = issue.kind === 'digest' ? 'monthly' : 'weekly';
    const n = await countRecipients(deps.db, list.id, cadence);
    deskPage(res, {
      section: 'lists',
      title: `Send ${issue.title}?`,
      body: html`<p><a href="${issueUrl(list, issue.slug)}">← ${issue.title}</a></p><div class="card"><h1>Send “${issue.title}” now?</h1>
<p>It goes to <strong>${plural(n, `${cadence} subscriber`)}</strong> of ${list.name}, starting now. A sent issue cannot be changed afterwards.</p>
<div class="row">${postForm(res, `${issueUrl(list, issue.slug)}/send`, html`<button type="submit">Send to ${plural(n, 'subscriber')}</button>`)}<a class="button secondary" href="${issueUrl(list, issue.slug)}">Not now</a></div></div>`,
    });
  });

  for (const action of ['send', 'pause', 'resume', 'cancel'] as const) {
    router.post(`/lists/:slug/issues/:issue/${action}`, async (req, res) => {
      const list = await listOf(deps, req);
      const issue = await getIssue(deps.db, list, param(req, 'issue'));
      const progress = await sendAction(deps, issue, list, action, editorOf(res).email);
      if (action === 'send') return res.redirect(303, `/admin/sends/${progress.send.id}`);
      res.redirect(303, `${issueUrl(list, issue.slug)}?done=${ACTION_DONE[action]}`);
    });
  }

  return router;
}
