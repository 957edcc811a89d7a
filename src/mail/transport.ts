import fs from 'node:fs';
import nodemailer from 'nodemailer';

/** One email as the rest of Broadsheet hands it over; `headers` carries List-Id, List-Unsubscribe and the like. */
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

/** The one seam between Broadsheet and SMTP: services receive a Mailer, never nodemailer. */
export interface Mailer {
  send(mail: OutgoingMail): Promise<void>;
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
    host: url.hostname,
    port: Number(url.port || (url.protocol === 'smtps:' ? 465 : 25)),
    secure: url.protocol === 'smtps:',
    auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
    // A local capture server or smtp-sink speaks plain SMTP; a real relay upgrades with STARTTLS.
    ignoreTLS: url.searchParams.get('tls') === 'off',
    dkim: options.dkim
      ? {
          domainName: options.dkim.domain,
          keySelector: options.dkim.selector,
          privateKey: fs.readFileSync(options.dkim.privateKeyFile, 'utf8'),
        }
      : undefined,
  });
  return {
    async send(mail) {
      await transport.sendMail({
        from: mail.from,
        to: mail.to,
        replyTo: mail.replyTo,
        subject: mail.subject,
        html: mail.html,
        text: mail.text,
        messageId: mail.messageId,
        headers: mail.headers,
      });
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
 * connection, a 5xx to AUTH, which is our configuration and not the reader's address) is
 * temporary and retried with backoff.
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
