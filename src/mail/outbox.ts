import express from 'express';
import { AppError } from '../errors';
import { escapeHtml } from '../escape-html';
import { OUTBOX_KEEP, parseMail, type CaptureServer } from './capture';

/**
 * /dev/outbox: what the embedded capture SMTP server received, newest first. Only mounted
 * when SMTP_URL is unset, so that a fresh install shows its mail without sending any.
 */
export function outboxRoutes(outbox: CaptureServer): express.Router {
  const router = express.Router();

  router.get('/', async (_req, res) => {
    const mails = outbox.messages().reverse();
    const rows = await Promise.all(
      mails.map(async (m) => {
        const p = await parseMail(m);
        return `<tr><td>${m.receivedAt.toISOString().replace('T', ' ').slice(0, 19)}</td><td>${escapeHtml(m.envelope.to.join(', '))}</td><td><a href="/dev/outbox/${m.id}">${escapeHtml(p.subject ?? '(no subject)')}</a></td></tr>`;
      }),
    );
    res
      .type('html')
      .send(
        `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Outbox</title>` +
          `<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem;color:#1f2328}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #d0d7de;padding:.4rem;text-align:left}</style>` +
          `<h1>Outbox</h1><p>Mail captured by the embedded SMTP server (SMTP_URL is unset): nothing has left this machine.</p>` +
          `<p>Kept in this server's memory: the latest ${OUTBOX_KEEP.toLocaleString('en')} messages since it started. A restart empties the outbox; the links in mail captured before still work until they expire.</p>` +
          `<table><thead><tr><th>Received</th><th>To</th><th>Subject</th></tr></thead><tbody>${rows.join('') || '<tr><td colspan="3">No mail yet.</td></tr>'}</tbody></table></html>`,
      );
  });

  router.get('/:id', async (req, res) => {
    const mail = outbox.messages().find((m) => String(m.id) === req.params.id);
    if (!mail) throw new AppError('not_found', 'no such message in the outbox');
    const p = await parseMail(mail);
    const headers = [...p.headerLines].map((h) => escapeHtml(h.line)).join('\n');
    // The message's HTML is shown in a sandboxed frame: it is untrusted content.
    res
      .type('html')
      .send(
        `<!doctype html><html lang="en"><meta charset="utf-8"><title>${escapeHtml(p.subject ?? '')}</title>` +
          `<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem}pre{white-space:pre-wrap;background:#f6f8fa;padding:1rem}iframe{width:100%;height:80vh;border:1px solid #d0d7de}</style>` +
          `<p><a href="/dev/outbox">← Outbox</a> · <a href="/dev/outbox/${mail.id}/raw">raw</a></p><h1>${escapeHtml(p.subject ?? '')}</h1>` +
          `<iframe sandbox title="HTML part" srcdoc="${escapeHtml(typeof p.html === 'string' ? p.html : '')}"></iframe>` +
          `<h2>Text part</h2><pre>${escapeHtml(p.text ?? '')}</pre><h2>Headers</h2><pre>${headers}</pre></html>`,
      );
  });

  router.get('/:id/raw', (req, res) => {
    const mail = outbox.messages().find((m) => String(m.id) === req.params.id);
    if (!mail) throw new AppError('not_found', 'no such message in the outbox');
    res.type('message/rfc822').send(mail.raw);
  });

  return router;
}
