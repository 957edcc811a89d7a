import http, { type Server } from 'node:http';
import { connect } from './connect';
import { recordServerDataDir } from './data-dir';
import { AppError } from './errors';
import { checkCanRun, type Config } from './config';
import { migrateToLatest } from './db/database';
import { mjmlProcess } from './issues/mjml-process';
import { loadTemplates } from './issues/templates';
import { log } from './log';
import type { CaptureServer } from './mail/capture';
import { createSmtpMailer } from './mail/transport';
import { watchQueues } from './metrics';
import { startKeptUnsubscribes } from './subscribers/kept-unsubscribes';
import { startWorkers } from './worker';

/** How long one step of a shutdown may take before the next runs anyway. */
const STOP_STEP_MS = 5000;

function bounded(step: Promise<unknown> | unknown, name: string): Promise<void> {
  return Promise.race([
    Promise.resolve(step).then(
      () => undefined,
      (err: unknown) => log.warn({ err: (err as Error).message }, `${name} failed while stopping`),
    ),
    new Promise<void>((resolve) =>
      setTimeout(() => {
        log.warn(`${name} did not stop within ${STOP_STEP_MS} ms; going on`);
        resolve();
      }, STOP_STEP_MS).unref(),
    ),
  ]);
}

/**
 * `broadsheet start | serve | worker`: builds the real clients once and runs the HTTP server,
 * the queue workers, or both, until SIGINT/SIGTERM, then drains and closes them in order,
 * each step bounded, so a stop finishes whatever is down.
 */
export async function runProcess(config: Config, roles: { http: boolean; workers: boolean; inbound?: boolean }): Promise<void> {
  checkCanRun(config);
  if (roles.inbound && !config.bounceDomain) {
    throw new AppError(
      'invalid_input',
      'BOUNCE_DOMAIN is not set: the inbound listener receives mail for that domain (see README, "Bounces and unsubscribes by mail")',
    );
  }
  const deps = await connect(config);
  await migrateToLatest(deps.db);
  watchQueues(deps.queues);

  // Without SMTP_URL, mail goes to a capture server in this process (see /dev/outbox).
  let outbox: CaptureServer | undefined;
  if (!config.smtpUrl) outbox = await (await import('./mail/capture.js')).startCaptureServer({ port: 0 });
  const smtpUrl = config.smtpUrl ?? outbox!.url;
  const mailer = createSmtpMailer(smtpUrl, { pool: config.sendConcurrency, dkim: config.dkim });
  const systemMailer = createSmtpMailer(smtpUrl, { pool: 2, dkim: config.dkim });

  const closers: Array<[string, () => Promise<unknown> | unknown]> = [];
  if (roles.http) {
    // Loaded only where it serves: a worker process does not need express and the pages in memory.
    const { createApp } = await import('./app.js');
    const app = createApp({ ...deps, outbox });
    // Listening comes first, before any worker runs: a port already taken ends the process at
    // once with one clear line (express 5's app.listen would hand the error to its callback,
    // and a callback that ignores it runs a process that serves nothing).
    const server: Server = http.createServer(app);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      mailer.close();
      systemMailer.close();
      await bounded(outbox?.close(), 'capture server');
      await bounded(deps.close(), 'connections');
      const code = (err as { code?: string }).code;
      if (code === 'EADDRINUSE') throw new AppError('unavailable', `port ${config.port} is in use`);
      if (code === 'EACCES') throw new AppError('unavailable', `port ${config.port} needs privileges this process does not have`);
      throw err;
    }
    closers.unshift([
      'HTTP server',
      () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        return closed;
      },
    ]);
    // Unsubscribes kept on disk while PostgreSQL was down are applied by the process that took them.
    const stopKept = startKeptUnsubscribes(deps.db, config.dataDir, config.repairIntervalMs, log);
    closers.push(['kept unsubscribes', stopKept]);
    // Where this server keeps the assets it serves, for the CLI to compare with its own
    // (src/data-dir.ts). Only a hint: Redis refusing it stops nothing.
    await recordServerDataDir(deps.redis, config.redisPrefix, config.dataDir).catch((err: unknown) =>
      log.warn({ err: (err as Error).message }, 'could not record DATA_DIR in Redis'),
    );
    log.info(`broadsheet listening on ${config.publicUrl}` + (outbox ? ` (mail is captured: ${config.publicUrl}/dev/outbox)` : ''));
  }
  if (roles.workers) {
    const mjml = mjmlProcess();
    const workers = await startWorkers({ ...deps, mailer, systemMailer, templates: loadTemplates(), compileMjml: mjml.compile, log });
    closers.push(['workers', () => workers.close()], ['MJML compiler', () => mjml.close()]);
  }
  if (roles.workers) log.info('broadsheet workers running');
  if (roles.inbound) {
    const { startInboundServer } = await import('./mail/inbound.js');
    const { inboundHandler } = await import('./sending/inbound.js');
    const inbound = await startInboundServer(inboundHandler({ db: deps.db, config, log }), {
      port: config.inboundPort,
      maxBytes: config.inboundMaxBytes,
      ratePerMinute: config.inboundRatePerMinute,
      name: config.bounceDomain,
      onError: (err) => log.warn({ err: err.message }, 'inbound mail'),
    });
    closers.unshift(['inbound listener', () => inbound.close()]);
    log.info(`broadsheet inbound: mail for ${config.bounceDomain} on port ${inbound.port}`);
  }

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  log.info('shutting down');
  // bull's local pause and close start a forced reconnect of the blocking client and attach a
  // handler to it only after the active jobs settle; with Redis down that reconnect rejects
  // first and, unhandled, would turn a clean stop into exit code 1. Nothing is left to protect
  // once stopping, so such late rejections are logged, not fatal.
  process.on('unhandledRejection', (err) => log.warn({ err: (err as Error)?.message }, 'ignored while stopping'));
  for (const [name, close] of closers) await bounded(close(), name);
  mailer.close();
  systemMailer.close();
  await bounded(outbox?.close(), 'capture server');
  await bounded(deps.close(), 'connections');
}
