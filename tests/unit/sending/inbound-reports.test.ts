import { parseInboundAddress, readReport } from '../../../src/sending/inbound';
import { signMailToken, verifyMailToken } from '../../../src/subscribers/tokens';

const keys = ['test-secret-key-for-links-0001'];
const config = { secretKeys: keys, bounceDomain: 'bounces.example.org' };

function report(type: string, partType: string, fields: string[], cte = ''): Buffer {
  const body = cte === 'base64' ? Buffer.from(fields.join('\r\n')).toString('base64') : fields.join('\r\n');
  return Buffer.from(
    [
      'From: MAILER-DAEMON@mx.example.net',
      `Content-Type: multipart/report; report-type=${type};`,
      ' boundary="b.1"',
      '',
      '--b.1',
      'Content-Type: text/plain',
      '',
      'Status: 2.0.0 (prose that is not the report)',
      '--b.1',
      `Content-Type: ${partType}`,
      ...(cte ? [`Content-Transfer-Encoding: ${cte}`] : []),
      '',
      body,
      '--b.1--',
      '',
    ].join('\r\n'),
  );
}

test('DSNs: 5.x.x is hard, 4.x.x soft, 2.x.x and non-reports are nothing; the machine-readable part decides', () => {
  const fields = (status: string) => [
    'Reporting-MTA: dns; mx',
    '',
    'Final-Recipient: rfc822; a@example.org',
    'Action: failed',
    `Status: ${status}`,
    'Diagnostic-Code: smtp; 550 5.1.1',
    '  user unknown',
  ];
  expect(readReport(report('delivery-status', 'message/delivery-status', fields('5.1.1')))).toEqual({
    kind: 'hard',
    status: '5.1.1',
    diagnostic: 'smtp; 550 5.1.1 user unknown',
  });
  expect(readReport(report('delivery-status', 'message/delivery-status', fields('4.2.2'), 'base64'))).toMatchObject({ kind: 'soft', status: '4.2.2' });
  expect(readReport(report('delivery-status', 'message/delivery-status', fields('2.0.0')))).toEqual({ kind: 'none' });
  expect(readReport(Buffer.from('Subject: Out of office\r\n\r\nStatus: 5.1.1\r\n'))).toEqual({ kind: 'none' });
  expect(readReport(report('delivery-status', 'text/plain', fields('5.1.1')))).toEqual({ kind: 'none' });
});

test('ARF: abuse is a complaint, not-spam is not', () => {
  expect(readReport(report('feedback-report', 'message/feedback-report', ['Feedback-Type: abuse', 'Version: 1']))).toEqual({
    kind: 'complaint',
    feedbackType: 'abuse',
  });
  expect(readReport(report('feedback-report', 'message/feedback-report', ['Feedback-Type: not-spam']))).toEqual({ kind: 'none' });
});

test('inbound addresses: signed, lower-case safe, expiring for bounces, refused when forged or for another domain', () => {
  const now = new Date('2026-12-06T00:00:00Z');
  const bounce = signMailToken(keys, 'bounce', 123456789, now);
  expect(bounce).toMatch(/^[0-9a-z.]+$/);
  expect(parseInboundAddress(config, `bounce+${bounce}@bounces.example.org`, now)).toEqual({ kind: 'bounce', deliveryId: 123456789 });
  expect(parseInboundAddress(config, `BOUNCE+${bounce.toUpperCase()}@Bounces.Example.org`, now)).toEqual({ kind: 'bounce', deliveryId: 123456789 });
  expect(parseInboundAddress(config, `bounce+${bounce}@bounces.example.org`, new Date(now.getTime() + 91 * 86400_000))).toBeUndefined();
  expect(verifyMailToken(keys, 'bounce', bounce, new Date(now.getTime() + 91 * 86400_000))).toEqual({ ok: false, reason: 'expired' });
  expect(parseInboundAddress(config, `bounce+${bounce}@example.org`, now)).toBeUndefined();
  expect(parseInboundAddress({ ...config, bounceDomain: undefined }, `bounce+${bounce}@bounces.example.org`, now)).toBeUndefined();
  expect(parseInboundAddress(config, `unsubscribe+${bounce}@bounces.example.org`, now)).toBeUndefined();

  const sub = '0190f3a2-7b1c-7d2e-8f00-123456789abc';
  const unsubscribe = signMailToken(keys, 'unsubscribe', sub);
  expect(`unsubscribe+${unsubscribe}`.length).toBeLessThanOrEqual(64);
  expect(parseInboundAddress(config, `unsubscribe+${unsubscribe}@bounces.example.org`)).toEqual({ kind: 'unsubscribe', subscriptionId: sub });
  // Another key, one changed character, or the old key after a rotation.
  expect(verifyMailToken(['another-secret-key-000000001'], 'unsubscribe', unsubscribe)).toEqual({ ok: false, reason: 'bad_signature' });
  expect(
    verifyMailToken(
      keys,
      'unsubscribe',
      unsubscribe.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a')),
    ),
  ).toEqual({ ok: false, reason: 'bad_signature' });
  expect(verifyMailToken(['new-key-after-rotation-00001', ...keys], 'unsubscribe', unsubscribe)).toMatchObject({ ok: true });
});
