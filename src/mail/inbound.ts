import { RateLimiterMemory } from 'rate-limiter-flexible';
import { SMTPServer } from 'smtp-server';

/**
 * The inbound SMTP listener (`broadsheet inbound`): the one place mail comes *in*. It knows
 * nothing of bounces or subscriptions: it asks `accept` about each recipient (everything not
 * accepted is refused at RCPT, so no mail is taken for addresses nobody reads) and hands each
 * message with its accepted recipients to `deliver`. A `deliver` that throws answers 451, so
 * the sending server keeps the message and tries again later (the database was away).
 *
 * Limits: a message larger than `maxBytes` is refused (SIZE is announced, and a body that
 * exceeds it anyway answers 552); one client address may start `ratePerMinute` messages a
 * minute (then 421 until the minute is over); at most `maxClients` connections at once.
 */
export interface InboundHandler {
  accept(address: string): boolean;
  deliver(recipients: string[], raw: Buffer): Promise<void>;
}

export interface InboundOptions {
  port: number;
  /** Default: every interface (the MX's traffic arrives from outside). Tests use 127.0.0.1. */
  host?: string;
  maxBytes: number;
  ratePerMinute: number;
  maxClients?: number;
  /** The name in the greeting. */
  name?: string;
  onError?: (err: Error) => void;
}

export interface InboundServer {
  port: number;
  close(): Promise<void>;
}

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

export async function startInboundServer(handler: InboundHandler, options: InboundOptions): Promise<InboundServer> {
  const limiter = new RateLimiterMemory({ points: options.ratePerMinute, duration: 60 });
  const server = new SMTPServer({
    name: options.name,
    banner: 'Broadsheet inbound: bounces and unsubscribes only',
    // Nothing here relays or logs in: reports and unsubscribe requests arrive like any mail to an MX.
    disabledCommands: ['AUTH', 'STARTTLS'],
    authOptional: true,
    logger: false,
    size: options.maxBytes,
    maxClients: options.maxClients ?? 50,
    socketTimeout: 60_000,
    closeTimeout: 5_000,
    onMailFrom(_address, session, callback) {
      limiter.consume(session.remoteAddress || 'unknown').then(
        () => callback(),
        () => callback(smtpError(421, '4.7.0 Too many messages from your address; try again later')),
      );
    },
    onRcptTo(address, _session, callback) {
      if (handler.accept(address.address)) return callback();
      callback(smtpError(550, '5.1.1 No such mailbox here'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if ((stream as unknown as { sizeExceeded?: boolean }).sizeExceeded) {
          return callback(smtpError(552, `5.3.4 Message too big: at most ${options.maxBytes} bytes`));
        }
        handler
          .deliver(
            session.envelope.rcptTo.map((r) => r.address),
            Buffer.concat(chunks),
          )
          .then(
            () => callback(),
            (err: Error) => {
              options.onError?.(err);
              callback(smtpError(451, '4.3.0 Could not process the message now; try again later'));
            },
          );
      });
    },
  });
  // A client that drops its connection is an 'error' event on the server; it must not end the process.
  server.on('error', (err) => options.onError?.(err));
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.server.address() as { port: number }).port;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
