import type { Config } from '../config';
import type { Db } from '../db/database';
import { isAppError } from '../errors';
import type { Logger } from '../log';
import type { InboundHandler } from '../mail/inbound';
import { markBounced } from '../subscribers/bounce';
import { unsubscribe } from '../subscribers/preferences';
import { verifyMailToken } from '../subscribers/tokens';
import { countSoftBounce, forgetSmtpAnswers, markDeliveryBounced, markDeliveryComplained } from './repository';

/**
 * What Broadsheet does with mail to BOUNCE_DOMAIN (the listener is mail/inbound.ts):
 *
 * - `bounce+<token>@…`, each newsletter's envelope sender: a delivery status notification
 *   (RFC 3464) with a 5.x.x status marks that delivery and its subscription bounced; a 4.x.x
 *   one (the remote server is still trying) is counted on the delivery; an abuse report
 *   (ARF, RFC 5965) marks the subscription complained. Anything else sent there (an
 *   auto-reply) is taken and dropped.
 * - `unsubscribe+<token>@…`, List-Unsubscribe's mailto: any message unsubscribes. The token
 *   is the authorisation, as for the one-click POST; the content is not read.
 *
 * Every other address, and a token that is forged or expired, is refused at RCPT: nothing is
 * changed for it and no mail is taken.
 */
export type InboundAddress = { kind: 'bounce'; deliveryId: number } | { kind: 'unsubscribe'; subscriptionId: string };

export function parseInboundAddress(config: Pick<Config, 'secretKeys' | 'bounceDomain'>, address: string, now: Date = new Date()): InboundAddress | undefined {
  if (!config.bounceDomain || typeof address !== 'string') return undefined;
  const at = address.lastIndexOf('@');
  if (at < 0 || address.slice(at + 1).toLowerCase() !== config.bounceDomain) return undefined;
  const m = /^(bounce|unsubscribe)\+(.+)$/i.exec(address.slice(0, at));
  if (!m) return undefined;
  const purpose = m[1]!.toLowerCase() as 'bounce' | 'unsubscribe';
  const check = verifyMailToken(config.secretKeys, purpose, m[2]!, now);
  if (!check.ok) return undefined;
  return check.purpose === 'bounce' ? { kind: 'bounce', deliveryId: check.deliveryId } : { kind: 'unsubscribe', subscriptionId: check.subscriptionId };
}

/** What a message to a bounce address reports. */
export type MailReport =
  | { kind: 'hard'; status: string; diagnostic?: string }
  | { kind: 'soft'; status: string; diagnostic?: string }
  | { kind: 'complaint'; feedbackType: string }
  | { kind: 'none' };

interface Part {
  headers: Map<string, string>;
  body: string;
}

function splitHeaders(text: string): Part {
  const end = /\r?\n\r?\n/.exec(text);
  const head = end ? text.slice(0, end.index) : text;
  const body = end ? text.slice(end.index + end[0].length) : '';
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) {
      const name = line.slice(0, colon).trim().toLowerCase();
      if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
    }
  }
  return { headers, body };
}

function param(value: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(value);
  return m ? (m[1] ?? m[2]) : undefined;
}

function decodeBody(part: Part): string {
  const cte = (part.headers.get('content-transfer-encoding') ?? '').toLowerCase();
  if (cte === 'base64') return Buffer.from(part.body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (cte === 'quoted-printable') {
    return Buffer.from(
      part.body.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
      'latin1',
    ).toString('utf8');
  }
  return part.body;
}

/**
 * Reads a DSN or an ARF report: the top-level `multipart/report` and its machine-readable
 * part (`message/delivery-status` or `message/feedback-report`). Pure: a report is a few
 * kilobytes of text, and only those two parts decide anything. Not a report: `none`.
 */
export function readReport(raw: Buffer): MailReport {
  const top = splitHeaders(raw.toString('latin1'));
  const type = top.headers.get('content-type') ?? '';
  if (!/^\s*multipart\/report\b/i.test(type)) return { kind: 'none' };
  const boundary = param(type, 'boundary');
  if (!boundary) return { kind: 'none' };
  const pieces = top.body.split(new RegExp(`\\r?\\n?--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:--)?[ \\t]*\\r?\\n?`));
  for (const piece of pieces) {
    const part = splitHeaders(piece);
    const partType = (part.headers.get('content-type') ?? '').toLowerCase();
    if (partType.startsWith('message/delivery-status') || partType.startsWith('message/global-delivery-status')) {
      const fields = decodeBody(part);
      // The first recipient's Status (RFC 3464 2.3.4): each bounce address names one recipient.
      const status = /^Status:\s*([245])\.(\d{1,3})\.(\d{1,3})/im.exec(fields);
      if (!status) continue;
      const diagnostic = /^Diagnostic-Code:\s*(.+(?:\r?\n[ \t].+)*)/im.exec(fields)?.[1]?.replace(/\s+/g, ' ').slice(0, 300);
      const code = `${status[1]}.${status[2]}.${status[3]}`;
      if (status[1] === '5') return { kind: 'hard', status: code, diagnostic };
      if (status[1] === '4') return { kind: 'soft', status: code, diagnostic };
      return { kind: 'none' }; // 2.x.x: delivered or relayed, a success report
    }
    if (partType.startsWith('message/feedback-report')) {
      const feedbackType = /^Feedback-Type:\s*([A-Za-z-]+)/im.exec(decodeBody(part))?.[1]?.toLowerCase();
      // RFC 5965: abuse, fraud, virus, other…; "not-spam" is the opposite of a complaint.
      if (feedbackType && feedbackType !== 'not-spam') return { kind: 'complaint', feedbackType };
      return { kind: 'none' };
    }
  }
  return { kind: 'none' };
}

export interface InboundDeps {
  db: Db;
  config: Pick<Config, 'secretKeys' | 'bounceDomain'>;
  log: Pick<Logger, 'info' | 'warn'>;
}

/** Applies one report to the delivery a bounce address names. Returns what it changed. */
export async function applyReport(db: Db, deliveryId: number, report: MailReport): Promise<'bounced' | 'soft' | 'complained' | 'nothing'> {
  if (report.kind === 'none') return 'nothing';
  if (report.kind === 'soft') return (await countSoftBounce(db, deliveryId)) ? 'soft' : 'nothing';
  if (report.kind === 'hard') {
    const hit = await markDeliveryBounced(db, deliveryId, `${report.status} ${report.diagnostic ?? ''}`.trim());
    if (!hit) return 'nothing';
    await forgetSmtpAnswers(db, hit.send_id);
    await markBounced(db, hit.subscription_id, 'bounced', { source: 'dsn', send: hit.send_id, status: report.status, smtp: report.diagnostic });
    return 'bounced';
  }
  const row = await markDeliveryComplained(db, deliveryId);
  if (!row) return 'nothing';
  await markBounced(db, row.subscription_id, 'complained', { source: 'arf', send: row.send_id, feedback_type: report.feedbackType });
  return 'complained';
}

/** The listener's handler: recipients checked at RCPT, each accepted one acted on at DATA. */
export function inboundHandler(deps: InboundDeps): InboundHandler {
  return {
    accept: (address) => parseInboundAddress(deps.config, address) !== undefined,
    async deliver(recipients, raw) {
      for (const recipient of recipients) {
        const target = parseInboundAddress(deps.config, recipient);
        if (!target) continue;
        if (target.kind === 'unsubscribe') {
          try {
            const { changed } = await unsubscribe(deps, target.subscriptionId, { method: 'mailto' });
            deps.log.info({ subscription: target.subscriptionId, changed }, 'unsubscribed by mail');
          } catch (err) {
            // A subscription deleted since (forget): nothing is left to unsubscribe.
            if (!isAppError(err) || err.code !== 'not_found') throw err;
          }
          continue;
        }
        const report = readReport(raw);
        const outcome = await applyReport(deps.db, target.deliveryId, report);
        deps.log.info({ delivery: target.deliveryId, report: report.kind, outcome }, 'report received by mail');
      }
    },
  };
}
