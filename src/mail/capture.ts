import { SMTPServer } from 'smtp-server';
import type { ParsedMail } from 'mailparser';

/** A message as the capture server received it. */
export interface CapturedMail {
  id: number;
  receivedAt: Date;
  envelope: { from: string; to: string[]; /** MAIL FROM's BODY parameter (8BITMIME), if any */ body?: string };
  raw: Buffer;
}

/** An answer the server should give a recipient instead of accepting it (for failure tests). */
export type RcptVerdict = { code: number; message: string } | undefined;

export interface CaptureServer {
  /** smtp://127.0.0.1:PORT?tls=off, ready for SMTP_URL. */
  url: string;
  port: number;
  messages(): CapturedMail[];
  /** Resolves with the first message (already received or arriving) that matches. */
  waitFor(match: (mail: CapturedMail) => boolean, timeoutMs?: number): Promise<CapturedMail>;
  clear(): void;
  close(): Promise<void>;
}

/** Messages the capture server keeps (in memory: a restart of the process empties it). */
export const OUTBOX_KEEP = 1000;

/**
 * A real SMTP server in this process that keeps what it receives in memory. It is where mail
 * goes when SMTP_URL is unset (nothing leaves the machine; /dev/outbox shows it), and the
 * SMTP server the integration tests talk to.
 */
export async function startCaptureServer(
  options: {
    port?: number;
    host?: string;
    keep?: number;
    /** The answer to a recipient; a promise holds the answer until it settles (a slow server). */
    onRcpt?: (address: string) => RcptVerdict | Promise<RcptVerdict>;
    onConnect?: () => RcptVerdict;
    /** An older server: does not offer 8BITMIME or SMTPUTF8 (for tests of the 7-bit fallback). */
    plain?: boolean;
    /**
     * How long `close()` lets open connections go on before cutting them (smtp-server's
     * default: 30 s, during which pooled connections keep delivering). An outage test sets it
     * short, so that the server is really gone from the moment it closes.
     */
    closeTimeoutMs?: number;
  } = {},
): Promise<CaptureServer> {
  const keep = options.keep ?? OUTBOX_KEEP;
  const received: CapturedMail[] = [];
  const waiters = new Set<{ match: (m: CapturedMail) => boolean; resolve: (m: CapturedMail) => void }>();
  let nextId = 1;

  const server = new SMTPServer({
    closeTimeout: options.closeTimeoutMs,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    size: 25 * 1024 * 1024,
    hide8BITMIME: options.plain,
    hideSMTPUTF8: options.plain,
    onConnect(_session, callback) {
      const verdict = options.onConnect?.();
      if (!verdict) return callback();
      callback(Object.assign(new Error(verdict.message), { responseCode: verdict.code }));
    },
    onRcptTo(address, _session, callback) {
      const answer = (verdict: RcptVerdict) => {
        if (!verdict) return callback();
        const err = new Error(verdict.message) as Error & { responseCode: number };
        err.responseCode = verdict.code;
        callback(err);
      };
      const verdict = options.onRcpt?.(address.address);
      if (verdict instanceof Promise) verdict.then(answer, (err: Error) => callback(err));
      else answer(verdict);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const mail: CapturedMail = {
          id: nextId++,
          receivedAt: new Date(),
          envelope: {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            body: (session.envelope.mailFrom ? (session.envelope.mailFrom.args as Record<string, string> | false | undefined) || undefined : undefined)?.BODY,
          },
          raw: Buffer.concat(chunks),
        };
        received.push(mail);
        if (received.length > keep) received.splice(0, received.length - keep);
        for (const w of waiters) {
          if (w.match(mail)) {
            waiters.delete(w);
            w.resolve(mail);
          }
        }
        callback();
      });
    },
  });

  // A client that drops its connection (a killed worker: ECONNRESET) is an 'error' event on
  // the server; unhandled, it would end the process that captures the mail.
  server.on('error', () => {});

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.server.address() as { port: number }).port;

  return {
    url: `smtp://${host}:${port}?tls=off`,
    port,
    messages: () => [...received],
    waitFor(match, timeoutMs = 10_000) {
      const found = received.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = { match, resolve: (m: CapturedMail) => (clearTimeout(timer), resolve(m)) };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching mail arrived within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    clear: () => void received.splice(0),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** mailparser is loaded on first parse: the server itself never parses, and a test world that reads no mail need not load it. */
export async function parseMail(mail: CapturedMail): Promise<ParsedMail> {
  const { simpleParser } = await import('mailparser');
  return simpleParser(mail.raw);
}
