import { parseSesNotification, parseSimpleReports } from '../../../src/sending/webhooks';
import { variantKey } from '../../../src/sending/variants';

const CERT = 'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem';

function sns(message: unknown, extra: Record<string, unknown> = {}) {
  return { Type: 'Notification', MessageId: 'm-1', TopicArn: 'arn:aws:sns:eu-west-1:1:ses', Message: JSON.stringify(message), SigningCertURL: CERT, ...extra };
}

test('simple reports: bounces (hard only) and complaints, one or many; bad input is a clear error', () => {
  expect(parseSimpleReports({ type: 'bounce', email: 'a@example.org' })).toEqual([
    { kind: 'bounced', email: 'a@example.org', list: undefined, detail: { source: 'webhook', permanent: true, reason: undefined } },
  ]);
  const many = parseSimpleReports({
    events: [
      { type: 'complaint', email: 'b@example.org', list: 'ml' },
      { type: 'bounce', email: 'c@example.org', permanent: false },
    ],
  });
  expect(many.map((r) => [r.kind, r.email, r.list])).toEqual([['complained', 'b@example.org', 'ml']]);
  expect(() => parseSimpleReports({ type: 'spam', email: 'a@example.org' })).toThrow(/"type" must be "bounce" or "complaint"/);
  expect(() => parseSimpleReports({ events: [{ type: 'bounce', email: 'a@example.org' }, { type: 'bounce' }] })).toThrow(/events\[1\]: "email"/);
});

test('SES through SNS: permanent bounces and complaints count, transient ones do not; the envelope is checked', () => {
  const bounce = sns({
    notificationType: 'Bounce',
    bounce: { bounceType: 'Permanent', bouncedRecipients: [{ emailAddress: 'x@example.org', diagnosticCode: 'smtp; 550 5.1.1 unknown' }] },
    mail: { messageId: 'ses-1' },
  });
  const parsed = parseSesNotification(bounce);
  expect(parsed.reports).toEqual([
    { kind: 'bounced', email: 'x@example.org', detail: { source: 'ses', sesMessageId: 'ses-1', snsMessageId: 'm-1', smtp: 'smtp; 550 5.1.1 unknown' } },
  ]);
  expect(
    parseSesNotification(sns({ notificationType: 'Bounce', bounce: { bounceType: 'Transient', bouncedRecipients: [{ emailAddress: 'x@example.org' }] } }))
      .reports,
  ).toEqual([]);
  expect(
    parseSesNotification(sns({ notificationType: 'Complaint', complaint: { complainedRecipients: [{ emailAddress: 'y@example.org' }] } })).reports.map(
      (r) => r.kind,
    ),
  ).toEqual(['complained']);
  expect(() => parseSesNotification({ ...bounce, SigningCertURL: 'https://evil.example.org/cert.pem' })).toThrow(/SigningCertURL/);
  expect(() => parseSesNotification({ ...bounce, SigningCertURL: 'http://sns.eu-west-1.amazonaws.com/x.pem' })).toThrow(/SigningCertURL/);
  expect(() => parseSesNotification(bounce, 'arn:aws:sns:eu-west-1:1:other')).toThrow(/unexpected topic/);
  const confirm = parseSesNotification({
    Type: 'SubscriptionConfirmation',
    SubscribeURL: 'https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription',
    SigningCertURL: CERT,
  });
  expect(confirm).toEqual({ reports: [], subscribeUrl: 'https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription' });
});

test('a variant is the cadence and the excluded sections this issue has, in any order', () => {
  const ids = new Set(['papers', 'tools']);
  expect(variantKey({ cadence: 'weekly' }, ids, ['tools', 'papers', 'gone'])).toBe('weekly:papers,tools');
  expect(variantKey({ cadence: 'weekly' }, ids, ['papers', 'tools'])).toBe(variantKey({ cadence: 'weekly' }, ids, ['tools', 'papers']));
  expect(variantKey({ cadence: 'weekly' }, ids, ['gone'])).toBe('weekly:');
  expect(variantKey({ cadence: 'monthly' }, ids, [])).toBe('monthly:');
});
