import nodemailer from 'nodemailer';
import { startInboundServer, type InboundServer } from '../../src/mail/inbound';
import { inboundHandler } from '../../src/sending/inbound';
import { signMailToken } from '../../src/subscribers/tokens';
import { addSubscribers, importFixture, startSend, startWorld, waitForSendStatus, type World } from '../helpers/world';

/**
 * Bounces, complaints and mailto unsubscribes that arrive by mail, through the real inbound
 * SMTP listener, against real PostgreSQL: a newsletter is sent first (with BOUNCE_DOMAIN, so
 * every message has its own VERP envelope sender and mailto), then reports are mailed back to
 * the addresses the messages carried.
 */
const DOMAIN = 'bounces.example.org';
const quiet = { info() {}, warn() {} };

let world: World;
let inbound: InboundServer;
/** recipient → { bounce: envelope sender, unsubscribe: List-Unsubscribe mailto address } */
const addresses = new Map<string, { bounce: string; unsubscribe: string }>();

beforeAll(async () => {
  world = await startWorld({ env: { BOUNCE_DOMAIN: DOMAIN } });
  await addSubscribers(world.db, world.list.id, 8, 'r');
  const issue = await importFixture(world);
  await startSend(world, issue.slug);
  await waitForSendStatus(world.db, 'done');
  for (const m of world.smtp.messages()) {
    const head = m.raw
      .toString('latin1')
      .split('\r\n\r\n')[0]!
      .replace(/\r\n[ \t]+/g, ' ');
    const mailto = /^List-Unsubscribe: .*<mailto:([^?>]+)\?subject=unsubscribe>/m.exec(head)?.[1];
    addresses.set(m.envelope.to[0]!, { bounce: m.envelope.from, unsubscribe: mailto ?? '' });
  }
  inbound = await startInboundServer(inboundHandler({ db: world.db, config: world.config, log: quiet }), {
    port: 0,
    host: '127.0.0.1',
    maxBytes: 64 * 1024,
    ratePerMinute: 1000,
  });
}, 120_000);

afterAll(async () => {
  await inbound?.close();
  await world?.close();
});

function client(port = inbound.port) {
  return nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
}

/** Mails `raw` to `to` from the null sender, as an MTA sends a report. */
async function mailTo(to: string, raw: string, port?: number) {
  const transport = client(port);
  try {
    return await transport.sendMail({ envelope: { from: '', to }, raw });
  } finally {
    transport.close();
  }
}

function dsn(to: string, status: string, diagnostic: string): string {
  return [
    'From: Mail Delivery System <MAILER-DAEMON@mx.example.net>',
    `To: ${to}`,
    'Subject: Undelivered Mail Returned to Sender',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status;',
    '\tboundary="dsn-boundary-1"',
    '',
    '--dsn-boundary-1',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'This is the mail system at host mx.example.net.',
    '',
    '--dsn-boundary-1',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.net',
    'Arrival-Date: Sun,  6 Dec 2026 03:00:00 +0000 (UTC)',
    '',
    'Final-Recipient: rfc822; someone@example.org',
    `Action: ${status.startsWith('5') ? 'failed' : 'delayed'}`,
    `Status: ${status}`,
    `Diagnostic-Code: smtp; ${diagnostic}`,
    '',
    '--dsn-boundary-1',
    'Content-Type: text/rfc822-headers',
    '',
    'Subject: the newsletter',
    '',
    '--dsn-boundary-1--',
    '',
  ].join('\r\n');
}

function arf(to: string): string {
  return [
    'From: feedback@fbl.example.net',
    `To: ${to}`,
    'Subject: FW: the newsletter',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=feedback-report; boundary="arf_b"',
    '',
    '--arf_b',
    'Content-Type: text/plain',
    '',
    'This is an email abuse report.',
    '--arf_b',
    'Content-Type: message/feedback-report',
    '',
    'Feedback-Type: abuse',
    'User-Agent: SomeGenerator/1.0',
    'Version: 1',
    '',
    '--arf_b',
    'Content-Type: text/rfc822-headers',
    '',
    'Subject: the newsletter',
    '--arf_b--',
    '',
  ].join('\r\n');
}

async function state(email: string) {
  return world.db
    .selectFrom('deliveries as d')
    .innerJoin('subscriptions as s', 's.id', 'd.subscription_id')
    .innerJoin('subscribers as p', 'p.id', 's.subscriber_id')
    .select(['d.status as delivery', 'd.soft_bounces', 'd.complained_at', 'd.smtp_response', 's.status as subscription', 's.id'])
    .where('p.email', '=', email)
    .executeTakeFirstOrThrow();
}

async function snapshot() {
  return world.db
    .selectFrom('deliveries as d')
    .innerJoin('subscriptions as s', 's.id', 'd.subscription_id')
    .select(['d.id', 'd.status', 'd.soft_bounces', 'd.complained_at', 's.status as subscription'])
    .orderBy('d.id')
    .execute();
}

test('every newsletter carries its own signed VERP sender and mailto unsubscribe address at BOUNCE_DOMAIN', () => {
  expect(addresses.size).toBe(8);
  for (const { bounce, unsubscribe } of addresses.values()) {
    expect(bounce).toMatch(/^bounce\+[0-9a-z]+\.[0-9a-z]+\.[a-z2-7]{16}@bounces\.example\.org$/);
    expect(unsubscribe).toMatch(/^unsubscribe\+[0-9a-f]{32}\.[a-z2-7]{16}@bounces\.example\.org$/);
    expect(bounce.split('@')[0]!.length).toBeLessThanOrEqual(64);
    expect(unsubscribe.split('@')[0]!.length).toBeLessThanOrEqual(64);
  }
  expect(new Set([...addresses.values()].map((a) => a.bounce)).size).toBe(8);
});

test('a 5.x.x DSN marks the delivery and the subscription bounced', async () => {
  const before = await state('r-1@example.org');
  expect(before).toMatchObject({ delivery: 'sent', subscription: 'active' });
  const info = await mailTo(
    addresses.get('r-1@example.org')!.bounce,
    dsn(addresses.get('r-1@example.org')!.bounce, '5.1.1', '550 5.1.1 <someone@example.org>: user unknown'),
  );
  expect(info.accepted).toHaveLength(1);
  const after = await state('r-1@example.org');
  expect(after).toMatchObject({ delivery: 'bounced', subscription: 'bounced' });
  expect(after.smtp_response).toContain('5.1.1');
  const events = await world.db
    .selectFrom('subscription_events')
    .select(['type', 'data'])
    .where('subscription_id', '=', after.id)
    .where('type', '=', 'bounced')
    .execute();
  expect(events).toHaveLength(1);
  expect(events[0]!.data).toMatchObject({ source: 'dsn', status: '5.1.1' });
});

test('a 4.x.x DSN is counted on the delivery and stops nothing', async () => {
  const to = addresses.get('r-2@example.org')!.bounce;
  await mailTo(to, dsn(to, '4.2.2', '452 4.2.2 mailbox full'));
  await mailTo(to.toUpperCase().replace('@BOUNCES.EXAMPLE.ORG', '@bounces.example.org'), dsn(to, '4.4.1', 'connection timed out'));
  expect(await state('r-2@example.org')).toMatchObject({ delivery: 'sent', subscription: 'active', soft_bounces: 2 });
});

test('an ARF abuse report marks the subscription complained', async () => {
  const to = addresses.get('r-3@example.org')!.bounce;
  await mailTo(to, arf(to));
  const after = await state('r-3@example.org');
  expect(after).toMatchObject({ delivery: 'sent', subscription: 'complained' });
  expect(after.complained_at).toBeInstanceOf(Date);
});

test('any mail to the List-Unsubscribe mailto address unsubscribes', async () => {
  const to = addresses.get('r-4@example.org')!.unsubscribe;
  await mailTo(to, ['From: r-4@example.org', `To: ${to}`, 'Subject: unsubscribe', '', 'please', ''].join('\r\n'));
  const after = await state('r-4@example.org');
  expect(after.subscription).toBe('unsubscribed');
  const event = await world.db
    .selectFrom('subscription_events')
    .select('data')
    .where('subscription_id', '=', after.id)
    .where('type', '=', 'unsubscribed')
    .executeTakeFirstOrThrow();
  expect(event.data).toMatchObject({ method: 'mailto' });
});

test('forged, expired and unknown addresses are refused at RCPT and change nothing', async () => {
  const before = await snapshot();
  const real = addresses.get('r-5@example.org')!;
  const delivery = (await world.db.selectFrom('deliveries').select('id').orderBy('id', 'desc').executeTakeFirstOrThrow()).id;
  const tampered = real.bounce.replace(/^bounce\+([0-9a-z]+)/, (_m, id: string) => `bounce+${(parseInt(id, 36) + 1).toString(36)}`);
  const otherKey = `bounce+${signMailToken(['someone-elses-secret-key-0000'], 'bounce', Number(delivery))}@${DOMAIN}`;
  const expired = `bounce+${signMailToken(world.config.secretKeys, 'bounce', Number(delivery), new Date(Date.now() - 100 * 24 * 3600 * 1000))}@${DOMAIN}`;
  const unsubscribeForged = real.unsubscribe.replace(/\.[a-z2-7]{16}@/, '.aaaaaaaaaaaaaaaa@');
  for (const to of [tampered, otherKey, expired, unsubscribeForged, `postmaster@${DOMAIN}`, `bounce+@${DOMAIN}`, real.bounce.replace(DOMAIN, 'example.org')]) {
    await expect(mailTo(to, dsn(to, '5.1.1', 'user unknown'))).rejects.toMatchObject({ responseCode: 550 });
  }
  expect(await snapshot()).toEqual(before);
});

test('size and rate limits: a message over the size limit is refused, a client over the rate waits', async () => {
  const to = addresses.get('r-6@example.org')!.bounce;
  const big = dsn(to, '5.1.1', 'user unknown').replace('This is the mail system', 'x'.repeat(100 * 1024));
  await expect(mailTo(to, big)).rejects.toMatchObject({ responseCode: 552 });
  expect(await state('r-6@example.org')).toMatchObject({ delivery: 'sent', subscription: 'active' });

  const limited = await startInboundServer(inboundHandler({ db: world.db, config: world.config, log: quiet }), {
    port: 0,
    host: '127.0.0.1',
    maxBytes: 64 * 1024,
    ratePerMinute: 2,
  });
  try {
    const unsubscribe = addresses.get('r-7@example.org')!.unsubscribe;
    const note = ['Subject: unsubscribe', '', 'x', ''].join('\r\n');
    await mailTo(unsubscribe, note, limited.port);
    await mailTo(unsubscribe, note, limited.port);
    await expect(mailTo(unsubscribe, note, limited.port)).rejects.toMatchObject({ responseCode: 421 });
  } finally {
    await limited.close();
  }
});
