import fs from 'node:fs';
import nodemailer from 'nodemailer';
// Replaces nodemailer's byte-by-byte dot-stuffing with an equivalent that is ten times faster.
import './dot-stuffing';

/** One email that nodemailer composes (system mail: few, small, each different). */
export interface OutgoingMail {
  from: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  replyTo?: string;
  /** Stable for the same message and recipient, so a resend after a crash is recognisable. */
  messageId?: string;
  headers?: Record<string, string>;
}

/** What the SMTP server said about one message: recorded on its delivery row. */
export interface SmtpResult {
  messageId: string;
  response: string;
}

/**
 * The one seam between Broadsheet and SMTP: services receive a Mailer, never nodemailer.
 * `send` lets nodemailer compose the MIME message; `sendRaw` hands over a message that was
 * built already (newsletters build one per variant and only write the per-recipient parts).
 */
export interface Mailer {
  send(mail: OutgoingMail): Promise<SmtpResult>;
  /** `use8BitMime`: the message has an 8bit part; BODY=8BITMIME is declared where offered. */
  sendRaw(envelope: { from: string; to: string; use8BitMime?: boolean }, raw: Buffer, messageId: string): Promise<SmtpResult>;
  close(): void;
}

export interface SmtpMailerOptions {
  /** SMTP connections kept open. */
  pool?: number;
  dkim?: { domain: string; selector: string; privateKeyFile: string };
}

export function createSmtpMailer(smtpUrl: string, options: SmtpMailerOptions = {}): Mailer {
  const url = new URL(smtpUrl);
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: options.pool ?? 5,
    // A connection is reused for as many messages as it carries: reconnecting every 100
    // messages (nodemailer's default) costs a handshake per 100 at thousands a second.
    maxMessages: Infinity,
    host: url.hostname,
    port: Number(url.port || (url.protocol === 'smtps:' ? 465 : 25)),
    secure: url.protocol === 'smtps:',
    auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
    // A local capture server or smtp-sink speaks plain SMTP; a real relay upgrades with STARTTLS.
    ignoreTLS: url.searchParams.get('tls') === 'off',
    // A server that stops answering must fail the message (and let it be retried), not hang a batch.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 60_000,
    dkim: options.dkim
      ? {
          domainName: options.dkim.domain,
          keySelector: options.dkim.selector,
          privateKey: fs.readFileSync(options.dkim.privateKeyFile, 'utf8'),
        }
      : undefined,
  });
  const result = (info: { messageId?: string; response?: string }, fallbackId: string): SmtpResult => ({
    messageId: info.messageId ?? fallbackId,
    response: String(info.response ?? ''),
  });
  return {
    async send(mail) {
      const info = await transport.sendMail({
        from: mail.from,
        to: mail.to,
        replyTo: mail.replyTo,
        subject: mail.subject,
        html: mail.html,
        text: mail.text,
        messageId: mail.messageId,
        headers: mail.headers,
      });
      return result(info, mail.messageId ?? '');
    },
    async sendRaw(envelope, raw, messageId) {
      const info = await transport.sendMail({ envelope, raw, messageId });
      return result(info, messageId);
    },
    close() {
      transport.close();
    },
  };
}

export type SmtpFailure = 'permanent' | 'temporary';

/**
 * The one decision about SMTP failures. A 5xx answer to the recipient or the message is
 * permanent (the address bounces, no retry); anything else (4xx, a dropped or refused
 * connection, a timeout, a 5xx to AUTH, which is our configuration and not the reader's
 * address) is temporary and retried with backoff.
 */
export function classifySmtpError(err: unknown): SmtpFailure {
  const e = err as { responseCode?: number; command?: string };
  if (typeof e.responseCode === 'number' && e.responseCode >= 500 && e.responseCode < 600) {
    const command = (e.command ?? '').toUpperCase();
    if (command.startsWith('RCPT') || command.startsWith('DATA') || command === 'MAIL FROM' || command === '') {
      return 'permanent';
    }
  }
  return 'temporary';
}

/** The server's words for a failure, short enough for a row and a log line. */
export function smtpErrorText(err: unknown): string {
  const e = err as { response?: string; message?: string; code?: string };
  return String(e.response ?? e.message ?? e.code ?? err).slice(0, 300);
}
