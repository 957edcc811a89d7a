import { checkCanRun, loadConfig } from '../../src/config';

const PROD = { NODE_ENV: 'production', SECRET_KEY: 'a-production-secret-key-0001', SMTP_URL: 'smtp://relay.example.org:587' };

describe('loadConfig', () => {
  it('has working defaults for development', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      env: 'development',
      port: 3000,
      publicUrl: 'http://localhost:3000',
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/broadsheet',
      redisUrl: 'redis://127.0.0.1:6379',
      smtpUrl: undefined,
      trustProxy: 'loopback',
      adminToken: undefined,
      sendRate: 0,
      sendConcurrency: 5,
      subscribeRatePerIp: 10,
      dkim: undefined,
    });
    expect(config.secretKeys).toHaveLength(1);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads every variable, trims the public URL, lists old keys after the signing one', () => {
    const config = loadConfig({
      ...PROD,
      PORT: '8080',
      PUBLIC_URL: 'https://news.example.org//',
      SECRET_KEY_OLD: ' old-key-one-0000001 , ,old-key-two-0000002',
      ADMIN_TOKEN: 't0ken',
      SEND_RATE: '20',
      SEND_CONCURRENCY: '2',
      SUBSCRIBE_RATE_PER_IP: '3',
      DKIM_DOMAIN: 'example.org',
      DKIM_SELECTOR: 's1',
      DKIM_PRIVATE_KEY_FILE: '/k.pem',
    });
    expect(config).toMatchObject({
      env: 'production',
      port: 8080,
      publicUrl: 'https://news.example.org',
      smtpUrl: 'smtp://relay.example.org:587',
      secretKeys: ['a-production-secret-key-0001', 'old-key-one-0000001', 'old-key-two-0000002'],
      adminToken: 't0ken',
      sendRate: 20,
      sendConcurrency: 2,
      subscribeRatePerIp: 3,
      dkim: { domain: 'example.org', selector: 's1', privateKeyFile: '/k.pem' },
    });
  });

  it('refuses what production cannot run with, saying which variable', () => {
    expect(() => loadConfig({ ...PROD, SECRET_KEY: undefined })).toThrow('SECRET_KEY is required when NODE_ENV=production');
    // validate and render run in a production image without mail; serving or sending does not.
    const noSmtp = loadConfig({ ...PROD, SMTP_URL: undefined });
    expect(() => checkCanRun(noSmtp)).toThrow(/^SMTP_URL is required when NODE_ENV=production/);
    expect(() => checkCanRun(loadConfig(PROD))).not.toThrow();
    expect(() => loadConfig({ SECRET_KEY: 'short' })).toThrow('SECRET_KEY must be at least 16 characters');
  });

  it('refuses malformed numbers and URLs with the value given', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow('PORT must be a whole number of at least 0, got "eighty"');
    expect(() => loadConfig({ SEND_CONCURRENCY: '0' })).toThrow(/SEND_CONCURRENCY must be a whole number of at least 1/);
    expect(() => loadConfig({ REDIS_URL: 'not a url' })).toThrow('REDIS_URL must be a URL, got "not a url"');
  });

  it('the worker timings: whole seconds by default, to the millisecond when set (fault tests)', () => {
    const defaults = loadConfig({});
    expect([defaults.workerHeartbeatMs, defaults.workerGoneAfterMs, defaults.jobLockMs, defaults.jobStallCheckMs, defaults.repairIntervalMs]).toEqual([
      5000, 15_000, 15_000, 10_000, 30_000,
    ]);
    const set = loadConfig({ WORKER_HEARTBEAT_SECONDS: '0.2', JOB_LOCK_SECONDS: '1.5', JOB_STALL_CHECK_SECONDS: '2', REPAIR_INTERVAL_SECONDS: '0.25' });
    expect([set.workerHeartbeatMs, set.workerGoneAfterMs, set.jobLockMs, set.jobStallCheckMs, set.repairIntervalMs]).toEqual([200, 600, 1500, 2000, 250]);
    expect(() => loadConfig({ WORKER_HEARTBEAT_SECONDS: '0' })).toThrow(
      'WORKER_HEARTBEAT_SECONDS must be a number of seconds of at least 0.05 (up to 3 decimals), got "0"',
    );
    expect(() => loadConfig({ JOB_LOCK_SECONDS: '1e3' })).toThrow(/JOB_LOCK_SECONDS must be a number of seconds/);
    expect(() => loadConfig({ REPAIR_INTERVAL_SECONDS: '0.0001' })).toThrow(/REPAIR_INTERVAL_SECONDS/);
  });

  it('the reminder and the expiry of unconfirmed subscriptions: 48 hours and 30 days, or what is set', () => {
    const defaults = loadConfig({});
    expect(defaults.confirmReminderMs).toBe(48 * 3600_000);
    expect(defaults.pendingExpiryMs).toBe(30 * 24 * 3600_000);
    const set = loadConfig({ CONFIRM_REMINDER_HOURS: '24', PENDING_EXPIRY_DAYS: '7' });
    expect([set.confirmReminderMs, set.pendingExpiryMs]).toEqual([24 * 3600_000, 7 * 24 * 3600_000]);
    expect(loadConfig({ CONFIRM_REMINDER_HOURS: '0' }).confirmReminderMs).toBe(0);
    expect(() => loadConfig({ CONFIRM_REMINDER_HOURS: '72', PENDING_EXPIRY_DAYS: '2' })).toThrow(
      /CONFIRM_REMINDER_HOURS must be shorter than PENDING_EXPIRY_DAYS/,
    );
    expect(() => loadConfig({ PENDING_EXPIRY_DAYS: '0' })).toThrow(/PENDING_EXPIRY_DAYS must be a whole number of at least 1, got "0"/);
  });

  it('TRUST_PROXY: loopback by default; false, true, hops, addresses, ranges and express names', () => {
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: ' loopback, 10.0.0.0/8 ,fd00::1' }).trustProxy).toBe('loopback,10.0.0.0/8,fd00::1');
    expect(() => loadConfig({ TRUST_PROXY: 'proxy.example.org' })).toThrow(/TRUST_PROXY: "proxy.example.org" is not an address/);
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.0/8/1' })).toThrow(/TRUST_PROXY/);
  });
});
