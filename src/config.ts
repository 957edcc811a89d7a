import net from 'node:net';
import path from 'node:path';
import { domainToASCII } from 'node:url';
import { AppError } from './errors';

/** Everything Broadsheet reads from the environment, parsed and checked once, then frozen. */
export interface Config {
  readonly env: 'production' | 'development' | 'test';
  readonly port: number;
  readonly publicUrl: string;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** Unset: mail goes to the embedded capture SMTP server (outbox page at /dev/outbox); never in production. */
  readonly smtpUrl: string | undefined;
  /**
   * express's `trust proxy`: which proxies may tell the client's address (X-Forwarded-For),
   * used for rate limits and the consent record. `false` trusts none, a number that many hops,
   * otherwise addresses, CIDR ranges or express's names (loopback, linklocal, uniquelocal).
   */
  readonly trustProxy: boolean | number | string;
  /** The first key signs; all of them verify, so that SECRET_KEY can be rotated. */
  readonly secretKeys: readonly string[];
  readonly adminToken: string | undefined;
  /** When set, `/metrics` answers only `Authorization: Bearer METRICS_TOKEN`. */
  readonly metricsToken: string | undefined;
  /** Messages a second across all workers; 0 means unlimited. */
  readonly sendRate: number;
  /** SMTP connections per worker. */
  readonly sendConcurrency: number;
  /** Subscribe requests one client IP may make a minute. */
  readonly subscribeRatePerIp: number;
  /** Where imported issue assets are stored and served from. */
  readonly dataDir: string;
  readonly dkim: { readonly domain: string; readonly selector: string; readonly privateKeyFile: string } | undefined;
  /** Authenticates POST /webhooks/bounces; unset: the webhook is closed. */
  readonly bounceWebhookSecret: string | undefined;
  /** When set, SES notifications from another SNS topic are refused. */
  readonly sesTopicArn: string | undefined;
  /** Redis key prefix, so deployments (and tests) can share one Redis. */
  readonly redisPrefix: string;
  /** Deliveries per batch job. */
  readonly sendBatchSize: number;
  /** Each send's circuit breaker: SMTP trouble is waited out, probed, and only then handed to a person. */
  readonly circuit: CircuitSettings;
  /**
   * How often a batch job writes its results (also every 200 of them). A result not yet
   * written when a worker is killed is a message sent again: see the README's bound.
   */
  readonly sendFlushMs: number;
  /** How often a send's page on the desk hears its progress (Server-Sent Events). */
  readonly progressEventsMs: number;
  /** How often a worker process says it is alive (send_workers). */
  readonly workerHeartbeatMs: number;
  /** A worker silent this long (three heartbeats) is gone: its leased rows are taken over at once. */
  readonly workerGoneAfterMs: number;
  /**
   * bull's lock on a running job, and how often workers look for jobs whose lock ran out (a
   * killed worker's): a job is taken over about lock + check after its worker died.
   */
  readonly jobLockMs: number;
  readonly jobStallCheckMs: number;
  /** The first wait before a failed job runs again (JOB_RETRY_FIRST_MS); unset: each kind's own. */
  readonly jobRetryFirstMs: number | undefined;
  /** How long a batch job holds its deliveries; a crashed job's rows are free again after it. */
  readonly deliveryLeaseMs: number;
  /** How often workers compare the rows with the queue and re-create lost jobs. */
  readonly repairIntervalMs: number;
  /** How long after an unconfirmed subscribe its one reminder goes out; 0: no reminder. */
  readonly confirmReminderMs: number;
  /** How long a pending subscription is kept before it is removed with its personal data. */
  readonly pendingExpiryMs: number;
  /**
   * The domain whose mail Broadsheet receives itself (`broadsheet inbound`): VERP bounce
   * addresses and List-Unsubscribe mailto addresses. Unset: envelope sender and mailto are the
   * list's From address, as before, and nothing listens.
   */
  readonly bounceDomain: string | undefined;
  /** The inbound SMTP listener's port (default 2525; MX traffic arrives on 25, forwarded). */
  readonly inboundPort: number;
  /** Largest inbound message accepted, in bytes (a DSN with the original message attached fits). */
  readonly inboundMaxBytes: number;
  /** Messages one client address may hand the inbound listener a minute. */
  readonly inboundRatePerMinute: number;
  /** The last part of Feedback-ID (Gmail Postmaster Tools): who sends. Default: PUBLIC_URL's host. */
  readonly feedbackSenderId: string;
  /** Days a finished send's per-delivery rows are kept; its summary is kept for ever. */
  readonly deliveryRetentionDays: number;
  /** Sender of mail that belongs to no list (an editor's sign-in link); default: Broadsheet at PUBLIC_URL's host. */
  readonly mailFrom: string;
}

const HOUR_MS = 60 * 60 * 1000;

/** A send's circuit breaker (src/sending/circuit.ts). */
export interface CircuitSettings {
  /** Temporary failures in a row (no success between) that open the circuit. */
  openAfter: number;
  firstBackoffMs: number;
  maxBackoffMs: number;
  giveUpAfterMs: number;
}

/** "1h", "30m", "90s", "2h30m" or plain seconds → milliseconds (SEND_GIVE_UP_AFTER). */
export function parseDuration(raw: string): number | undefined {
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === '') return undefined;
  const [, h, min, s] = m;
  return ((Number(h ?? 0) * 60 + Number(min ?? 0)) * 60 + Number(s ?? 0)) * 1000;
}

const DEV_SECRET = 'broadsheet-development-key-do-not-use-in-production';

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    throw new AppError('invalid_input', `${name} must be a whole number of at least ${min}, got "${raw}"`);
  }
  return n;
}

/**
 * A timing in seconds, to the millisecond ("0.25" is 250 ms): production keeps whole seconds,
 * and fault tests shorten the worker's own timings (heartbeat, bull's lock and stall check, the
 * repair loop) through the same variables rather than waiting out the production ones.
 */
function seconds(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback * 1000;
  const n = Number(raw);
  if (!/^\d+(\.\d{1,3})?$/.test(raw.trim()) || n < min) {
    throw new AppError('invalid_input', `${name} must be a number of seconds of at least ${min} (up to 3 decimals), got "${raw}"`);
  }
  return Math.round(n * 1000);
}

function duration(env: NodeJS.ProcessEnv, name: string, fallbackMs: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallbackMs;
  const ms = parseDuration(raw);
  if (ms === undefined || ms <= 0) throw new AppError('invalid_input', `${name} must be a duration such as 1h, 30m, 90s or a number of seconds, got "${raw}"`);
  return ms;
}

/** A URL's `user:password@` as `…@`, found by its shape, so that even a malformed URL's password is hidden. */
export function withoutCredentials(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^@/?#]*@/i, (_, scheme: string | undefined) => `${scheme ?? ''}…@`);
}

function url(env: NodeJS.ProcessEnv, name: string, fallback: string | undefined): string | undefined {
  const raw = env[name] || fallback;
  if (raw === undefined) return undefined;
  try {
    new URL(raw);
  } catch {
    // DATABASE_URL, REDIS_URL and SMTP_URL carry passwords: the message shows where the URL
    // went wrong, never the user and password part.
    throw new AppError('invalid_input', `${name} must be a URL, got "${withoutCredentials(raw)}"`);
  }
  return raw;
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function trustProxy(env: NodeJS.ProcessEnv): boolean | number | string {
  const raw = (env.TRUST_PROXY ?? '').trim();
  if (raw === '') return 'loopback';
  if (raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const entries = raw.split(',').map((e) => e.trim());
  for (const entry of entries) {
    const [address, bits, ...rest] = entry.split('/');
    const ok =
      PROXY_NAMES.has(entry) || (rest.length === 0 && address !== undefined && net.isIP(address) !== 0 && (bits === undefined || /^\d{1,3}$/.test(bits)));
    if (!ok) {
      throw new AppError(
        'invalid_input',
        `TRUST_PROXY: "${entry}" is not an address, a CIDR range or one of loopback, linklocal, uniquelocal ` + '(or use true, false or a number of hops)',
      );
    }
  }
  return entries.join(',');
}

function bounceDomain(env: NodeJS.ProcessEnv): string | undefined {
  const raw = (env.BOUNCE_DOMAIN ?? '').trim().toLowerCase();
  if (!raw) return undefined;
  const ascii = domainToASCII(raw);
  if (!ascii || !/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(ascii)) {
    throw new AppError('invalid_input', `BOUNCE_DOMAIN must be a domain name like bounces.example.org, got "${raw}"`);
  }
  return ascii;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const mode = env.NODE_ENV === 'production' ? 'production' : env.NODE_ENV === 'test' ? 'test' : 'development';
  const port = int(env, 'PORT', 3000);
  const secret = env.SECRET_KEY;
  if (!secret && mode === 'production') {
    throw new AppError('invalid_input', 'SECRET_KEY is required when NODE_ENV=production');
  }
  if (secret && secret.length < 16) {
    throw new AppError('invalid_input', 'SECRET_KEY must be at least 16 characters');
  }
  // Old keys still verify links in mail already sent, so a rotation breaks nothing.
  const oldKeys = (env.SECRET_KEY_OLD ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);

  const dkimDomain = env.DKIM_DOMAIN;
  const dkim =
    dkimDomain && env.DKIM_SELECTOR && env.DKIM_PRIVATE_KEY_FILE
      ? { domain: dkimDomain, selector: env.DKIM_SELECTOR, privateKeyFile: env.DKIM_PRIVATE_KEY_FILE }
      : undefined;

  const publicUrl = url(env, 'PUBLIC_URL', `http://localhost:${port}`)!.replace(/\/+$/, '');
  const smtpUrl = url(env, 'SMTP_URL', undefined);
  const heartbeat = seconds(env, 'WORKER_HEARTBEAT_SECONDS', 5, 0.05);

  const confirmReminderMs = int(env, 'CONFIRM_REMINDER_HOURS', 48) * HOUR_MS;
  const pendingExpiryMs = int(env, 'PENDING_EXPIRY_DAYS', 30, 1) * 24 * HOUR_MS;
  if (confirmReminderMs >= pendingExpiryMs) {
    throw new AppError(
      'invalid_input',
      'CONFIRM_REMINDER_HOURS must be shorter than PENDING_EXPIRY_DAYS: the reminder would come after the subscription is gone',
    );
  }

  return Object.freeze({
    env: mode,
    port,
    publicUrl,
    databaseUrl: url(env, 'DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/broadsheet')!,
    redisUrl: url(env, 'REDIS_URL', 'redis://127.0.0.1:6379')!,
    smtpUrl,
    trustProxy: trustProxy(env),
    secretKeys: Object.freeze([secret || DEV_SECRET, ...oldKeys]),
    adminToken: env.ADMIN_TOKEN || undefined,
    metricsToken: env.METRICS_TOKEN || undefined,
    sendRate: int(env, 'SEND_RATE', 0),
    sendConcurrency: int(env, 'SEND_CONCURRENCY', 5, 1),
    subscribeRatePerIp: int(env, 'SUBSCRIBE_RATE_PER_IP', 10, 1),
    dataDir: path.resolve(env.DATA_DIR || 'data'),
    dkim,
    redisPrefix: env.REDIS_PREFIX || 'broadsheet',
    bounceWebhookSecret: env.BOUNCE_WEBHOOK_SECRET || undefined,
    sesTopicArn: env.SES_TOPIC_ARN || undefined,
    sendBatchSize: int(env, 'SEND_BATCH_SIZE', 100, 1),
    circuit: Object.freeze({
      openAfter: int(env, 'SEND_CIRCUIT_OPEN_AFTER', 10, 1),
      firstBackoffMs: int(env, 'SEND_BACKOFF_FIRST_SECONDS', 5, 1) * 1000,
      maxBackoffMs: int(env, 'SEND_BACKOFF_MAX_SECONDS', 300, 1) * 1000,
      giveUpAfterMs: duration(env, 'SEND_GIVE_UP_AFTER', 3_600_000),
    }),
    sendFlushMs: int(env, 'SEND_FLUSH_MS', 250, 10),
    progressEventsMs: int(env, 'PROGRESS_EVENTS_MS', 1000, 50),
    workerHeartbeatMs: heartbeat,
    workerGoneAfterMs: 3 * heartbeat,
    jobLockMs: seconds(env, 'JOB_LOCK_SECONDS', 15, 0.05),
    jobStallCheckMs: seconds(env, 'JOB_STALL_CHECK_SECONDS', 10, 0.05),
    jobRetryFirstMs: env.JOB_RETRY_FIRST_MS ? int(env, 'JOB_RETRY_FIRST_MS', 1000, 1) : undefined,
    deliveryLeaseMs: int(env, 'DELIVERY_LEASE_SECONDS', 60, 1) * 1000,
    repairIntervalMs: seconds(env, 'REPAIR_INTERVAL_SECONDS', 30, 0.05),
    confirmReminderMs,
    pendingExpiryMs,
    bounceDomain: bounceDomain(env),
    inboundPort: int(env, 'INBOUND_PORT', 2525),
    inboundMaxBytes: int(env, 'INBOUND_MAX_BYTES', 1024 * 1024, 1024),
    inboundRatePerMinute: int(env, 'INBOUND_RATE_PER_MINUTE', 120, 1),
    feedbackSenderId: env.FEEDBACK_SENDER_ID || new URL(publicUrl).hostname,
    deliveryRetentionDays: int(env, 'DELIVERY_RETENTION_DAYS', 90, 1),
    mailFrom: env.MAIL_FROM || `"Broadsheet" <broadsheet@${new URL(publicUrl).hostname}>`,
  });
}

/**
 * Checked by the processes that serve or send (not by `validate` or `render`, which run fine in
 * a production image without mail). Without SMTP_URL mail is captured and shown at /dev/outbox,
 * links and all: in production that page would hand anyone every subscriber's links.
 */
export function checkCanRun(config: Config): void {
  if (!config.smtpUrl && config.env === 'production') {
    throw new AppError('invalid_input', 'SMTP_URL is required when NODE_ENV=production (without it mail is only captured in memory, for development)');
  }
}
