import type { Server } from 'node:http';
import { createApp } from './app';
import { connect } from './connect';
import type { Config } from './config';
import { migrateToLatest } from './db/database';
import { startCaptureServer, type CaptureServer } from './sending/capture';
import { createSmtpMailer } from './sending/mailer';
import { startWorkers } from './worker';

/**
 * `broadsheet start | serve | worker`: builds the real clients once and runs the HTTP server,
 * the queue workers, or both, until SIGINT/SIGTERM, then drains and closes them in order.
 */
export async function runProcess(config: Config, roles: { http: boolean; workers: boolean }): Promise<void> {
  const deps = await connect(config);
  await migrateToLatest(deps.db);

  // Without SMTP_URL, mail goes to a capture server in this process (see /dev/outbox).
  let outbox: CaptureServer | undefined;
  if (!config.smtpUrl) outbox = await startCaptureServer({ port: 0 });
  const mailer = createSmtpMailer(config.smtpUrl ?? outbox!.url, { pool: config.sendConcurrency, dkim: config.dkim });

  const closers: Array<() => Promise<void> | void> = [];
  if (roles.workers) {
    const workers = await startWorkers({ ...deps, mailer });
    closers.push(() => workers.close());
  }
  if (roles.http) {
    const app = createApp({ ...deps, outbox });
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(config.port, () => resolve(s));
    });
    closers.unshift(() => new Promise<void>((resolve) => server.close(() => resolve())));
    console.log(`broadsheet listening on ${config.publicUrl}` + (outbox ? ` (mail is captured: ${config.publicUrl}/dev/outbox)` : ''));
  }
  if (roles.workers) console.log('broadsheet workers running');

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  console.log('shutting down');
  for (const close of closers) await close();
  mailer.close();
  await outbox?.close();
  await deps.close();
}
