import type { Config } from '../config';
import type { Db } from '../db/database';
import { escapeHtml } from '../escape-html';
import type { Mailer } from '../mail/transport';
import type { EditorMailJob } from '../queues';
import { findSignInLink } from './repository';
import { signInUrl } from './service';

/**
 * The email with an editor's sign-in link. Plain and short: it goes to one person who asked
 * for it (or whom an owner added), from MAIL_FROM. A link that was used or has run out by the
 * time the job runs is not sent.
 */
export async function sendSignInMail(
  deps: { db: Db; config: Pick<Config, 'publicUrl' | 'secretKeys' | 'mailFrom'>; mailer: Mailer },
  job: EditorMailJob,
  now = new Date(),
): Promise<'sent' | 'skipped'> {
  const link = await findSignInLink(deps.db, job.linkId);
  if (!link || link.used_at || link.expires_at <= now) return 'skipped';
  const url = signInUrl(deps.config, link.id, link.expires_at);
  const site = new URL(deps.config.publicUrl).host;
  const lines = [
    `Sign in to the Broadsheet desk at ${site}:`,
    '',
    url,
    '',
    'The link works once, for 15 minutes. Opening it shows a button; nothing happens until you press it.',
    'If you did not ask for it, ignore this email: nobody can sign in without it.',
  ];
  await deps.mailer.send({
    from: deps.config.mailFrom,
    to: link.email,
    subject: `Your sign-in link for ${site}`,
    text: lines.join('\n') + '\n',
    html: `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5"><p>${escapeHtml(lines[0]!)}</p><p><a href="${escapeHtml(url)}">Sign in</a></p><p>${escapeHtml(lines[4]!)}<br>${escapeHtml(lines[5]!)}</p></body></html>`,
  });
  return 'sent';
}
