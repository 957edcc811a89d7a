import { startCaptureServer, parseMail, type CaptureServer } from '../../src/mail/capture';
import { classifySmtpError, createSmtpMailer } from '../../src/mail/transport';

let smtp: CaptureServer;
beforeAll(async () => {
  smtp = await startCaptureServer({
    onRcpt: (a) => (a.startsWith('gone@') ? { code: 550, message: 'no such user' } : a.startsWith('busy@') ? { code: 451, message: 'try later' } : undefined),
  });
});
afterAll(() => smtp.close());

test('sends multipart mail with Chinese subject and custom headers through real SMTP', async () => {
  const mailer = createSmtpMailer(smtp.url, { pool: 1 });
  try {
    await mailer.send({
      from: 'ML 月报 <news@example.org>',
      to: 'reader@example.org',
      subject: '机器学习总结；2021 年 2 月',
      html: '<p>你好</p>',
      text: '你好',
      messageId: '<abc@example.org>',
      headers: { 'List-Id': '<ml-news.example.org>' },
    });
    const raw = await smtp.waitFor((m) => m.envelope.to.includes('reader@example.org'));
    const parsed = await parseMail(raw);
    expect(parsed.subject).toBe('机器学习总结；2021 年 2 月');
    expect(parsed.text?.trim()).toBe('你好');
    expect(parsed.html).toContain('你好');
    expect(parsed.messageId).toBe('<abc@example.org>');
    expect(raw.raw.toString()).toMatch(/^List-Id: <ml-news\.example\.org>\r$/im);
  } finally {
    mailer.close();
  }
});

test('a 5xx to RCPT is permanent, a 4xx or refused connection temporary', async () => {
  const mailer = createSmtpMailer(smtp.url, { pool: 1 });
  const base = { from: 'a@example.org', subject: 's', html: 'h', text: 't' };
  try {
    const gone = await mailer.send({ ...base, to: 'gone@example.org' }).catch((e) => e);
    expect(classifySmtpError(gone)).toBe('permanent');
    const busy = await mailer.send({ ...base, to: 'busy@example.org' }).catch((e) => e);
    expect(classifySmtpError(busy)).toBe('temporary');
  } finally {
    mailer.close();
  }
  const closed = createSmtpMailer('smtp://127.0.0.1:1?tls=off', { pool: 1 });
  const refused = await closed.send({ ...base, to: 'x@example.org' }).catch((e) => e);
  closed.close();
  expect(refused).toHaveProperty('code', 'ESOCKET');
  expect(classifySmtpError(refused)).toBe('temporary');
});
