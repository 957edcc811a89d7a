import fs from 'node:fs';
import nodemailer from 'nodemailer';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
// Replaces nodemailer's byte-by-byte dot-stuffing with an equivalent that is ten times faster.
import './dot-stuffing';
import { randomUUID } from 'node:crypto';
import { asciiDomain, bareAddress, encodeMailbox, needsSmtpUtf8 } from './headers';
import { buildMimeTemplate, foldHtmlLines } from './mime';
import { compilePersonalization } from './personalize';

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

/** What the SMTP server offers that changes how a message must be written. */
export interface ServerCapabilities {
  /** RFC 6152: an 8bit body may be declared; without it every part must be 7-bit. */
  eightBitMime: boolean;
  /** RFC 6531: an address with a non-ASCII local part can be carried. */
  smtpUtf8: boolean;
}

/** How long a probe's answer is trusted: a relay reconfigured meanwhile is noticed within it. */
const CAPABILITIES_TTL_MS = 10 * 60 * 1000;

/**
 * The one seam between Broadsheet and SMTP: services receive a Mailer, never nodemailer.
 * `send` lets nodemailer compose the MIME message; `sendRaw` hands over a message that was
 * built already (newsletters build one per variant and only write the per-recipient parts).
 */
export interface Mailer {
  send(mail: OutgoingMail): Promise<SmtpResult>;
  /** `use8BitMime`: the message has an 8bit part; BODY=8BITMIME is declared where offered. */
  sendRaw(envelope: { from: string; to: string; use8BitMime?: boolean }, raw: Buffer, messageId: string): Promise<SmtpResult>;
  /**
   * What the server offers (one EHLO, remembered for a while). nodemailer does not rewrite a
   * prebuilt message for a server without 8BITMIME: the sender asks here once per batch and
   * builds the 7-bit form itself. A server that cannot be reached rejects (a temporary failure).
   */
  capabilities(): Promise<ServerCapabilities>;
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
  let known: { at: number; answer: Promise<ServerCapabilities> } | undefined;
  const probe = (): Promise<ServerCapabilities> =>
    new Promise((resolve, reject) => {
      const connection = new SMTPConnection({
        host: url.hostname,
        port: Number(url.port || (url.protocol === 'smtps:' ? 465 : 25)),
        secure: url.protocol === 'smtps:',
        ignoreTLS: url.searchParams.get('tls') === 'off',
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 20_000,
      });
      connection.once('error', (err: Error) => {
        connection.close();
        reject(err);
      });
      connection.connect(() => {
        // After STARTTLS, when offered: the extensions of the session mail will go through.
        const offered: string[] = (connection as unknown as { _supportedExtensions: string[] })._supportedExtensions ?? [];
        connection.quit();
        resolve({ eightBitMime: offered.includes('8BITMIME'), smtpUtf8: offered.includes('SMTPUTF8') });
      });
    });
  const capabilities = (): Promise<ServerCapabilities> => {
    if (!known || Date.now() - known.at > CAPABILITIES_TTL_MS) {
      const answer = probe();
      const entry = { at: Date.now(), answer };
      known = entry;
      answer.catch(() => {
        if (known === entry) known = undefined; // asked again next time
      });
    }
    return known.answer;
  };

  const result = (info: { messageId?: string; response?: string }, fallbackId: string): SmtpResult => ({
    messageId: info.messageId ?? fallbackId,
    response: String(info.response ?? ''),
  });
  return {
    async send(mail) {
      // The same header and MIME code as newsletters (one message, so its template is built
      // and used once): nodemailer's composer would encode a prepared List-Id whole and put
      // an encoded word inside quotes in To.
      const server = await capabilities();
      const to = bareAddress(mail.to);
      if (needsSmtpUtf8(to) && !server.smtpUtf8) {
        throw Object.assign(new Error('553 not sent: the address has a non-ASCII local part and the SMTP server does not offer SMTPUTF8'), {
          responseCode: 553,
          command: 'RCPT TO',
        });
      }
      const from = bareAddress(mail.from);
      const messageId = mail.messageId ?? `<${randomUUID()}@${asciiDomain(from).split('@').pop()}>`;
      const message = buildMimeTemplate({
        from: encodeMailbox(mail.from),
        replyTo: mail.replyTo ? encodeMailbox(mail.replyTo) : undefined,
        subject: mail.subject,
        headers: mail.headers ?? {},
        html: compilePersonalization(foldHtmlLines(mail.html)),
        text: compilePersonalization(mail.text),
      }).build(
        { to: mail.to, messageId, date: new Date(), values: { name: '', preferences_url: '', unsubscribe_url: '', web_url: '' }, headers: {} },
        undefined,
        server,
      );
      const info = await transport.sendMail({
        envelope: { from: asciiDomain(from), to: asciiDomain(to), use8BitMime: message.eightBit },
        raw: message.raw,
        messageId,
      });
      return result(info, messageId);
    },
    async sendRaw(envelope, raw, messageId) {
      const info = await transport.sendMail({ envelope, raw, messageId });
      return result(info, messageId);
    },
    capabilities,
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
