import { simpleParser } from 'mailparser';
import { compilePersonalization, markers } from '../../../src/mail/personalize';
import { bareAddress, formatAddress, listId, stableMessageId, unsubscribeHeaders } from '../../../src/mail/headers';
import { buildMimeTemplate, foldHtmlLines, MessageBuffer } from '../../../src/mail/mime';
import { classifySmtpError } from '../../../src/mail/transport';

const m = markers('0123456789ab');

function template(html: string, text: string) {
  return buildMimeTemplate({
    from: '"ML News" <news@example.org>',
    subject: '机器学习月报：2021 年 2 月 — a long subject that has to be folded over more than one header line',
    headers: { 'List-Id': listId({ slug: 'ml-news', name: '机器学习月报' }, 'https://news.example.org') },
    html: compilePersonalization(html),
    text: compilePersonalization(text),
  });
}

test('a prebuilt message filled per recipient decodes to exactly the values, whatever they contain', async () => {
  const longLine = '长'.repeat(300) + ' = =3D ' + 'x'.repeat(200);
  const html = `<p>${m.ifFilled('name')}Hi ${m.token('name')},${m.endIf('name')} ${longLine}</p><a href="${m.token('unsubscribe_url')}">leave</a>\n<p>end</p>`;
  const text = `${m.ifFilled('name')}Hi ${m.token('name')},${m.endIf('name')}\n${longLine}\nUnsubscribe: ${m.token('unsubscribe_url')}\n`;
  const mime = template(html, text);
  const values = { name: 'Zoë <b>&"王"', preferences_url: 'https://p', unsubscribe_url: 'https://news.example.org/unsubscribe/a=b&c', web_url: 'https://w' };
  const { raw, eightBit } = mime.build({
    to: formatAddress('Zoë 王', 'zoe@example.org'),
    messageId: '<id@example.org>',
    date: new Date('2026-11-28T10:00:00Z'),
    values,
    headers: unsubscribeHeaders(values.unsubscribe_url, 'ML News <news@example.org>'),
  });

  // A line of 1,100 octets cannot go as 8bit: both parts are 7-bit (base64 here, as the
  // long line is mostly CJK), lines within 78.
  expect(eightBit).toBe(false);
  expect(raw.toString('latin1')).toContain('Content-Transfer-Encoding: base64');
  expect(raw.toString('latin1')).not.toContain('Content-Transfer-Encoding: 8bit');
  for (const line of raw.toString('latin1').split('\r\n')) expect([line.length, line]).toEqual([Math.min(line.length, 78), line]);
  const parsed = await simpleParser(raw);
  expect(parsed.subject).toBe('机器学习月报：2021 年 2 月 — a long subject that has to be folded over more than one header line');
  expect(parsed.text).toBe(`Hi Zoë <b>&"王",\n${longLine}\nUnsubscribe: https://news.example.org/unsubscribe/a=b&c\n`);
  expect(parsed.html).toBe(
    `<p>Hi Zoë &lt;b&gt;&amp;&quot;王&quot;, ${longLine}</p><a href="https://news.example.org/unsubscribe/a=b&amp;c">leave</a>\n<p>end</p>`,
  );
  expect(parsed.to && 'value' in parsed.to ? parsed.to.value[0] : undefined).toEqual({ address: 'zoe@example.org', name: 'Zoë 王' });
  expect(parsed.messageId).toBe('<id@example.org>');

  // An empty name drops the conditional greeting in both parts.
  const anonymous = await simpleParser(
    mime.build({ to: 'a@example.org', messageId: '<2@x>', date: new Date(), values: { ...values, name: '' }, headers: {} }).raw,
  );
  expect(anonymous.text).toBe(`\n${longLine}\nUnsubscribe: https://news.example.org/unsubscribe/a=b&c\n`);
});

test('headers: addresses, List-Id, List-Unsubscribe with https and mailto, stable Message-IDs', () => {
  expect(formatAddress('', 'a@example.org')).toBe('a@example.org');
  expect(formatAddress('Ann "the" Reader', 'a@example.org')).toBe('"Ann \\"the\\" Reader" <a@example.org>');
  expect(formatAddress('Evil\r\nBcc: x@y', 'a@example.org')).not.toMatch(/[\r\n]/);
  expect(formatAddress('王', 'a@example.org')).toMatch(/^=\?UTF-8\?Q\?.+\?= <a@example\.org>$/);
  expect(bareAddress('"ML News" <news@example.org>')).toBe('news@example.org');
  expect(listId({ slug: 'ml-news', name: 'ML News' }, 'https://news.example.org/')).toBe('"ML News" <ml-news.news.example.org>');
  const headers = unsubscribeHeaders('https://news.example.org/unsubscribe/tok.en', 'ML <news@example.org>');
  expect(headers['List-Unsubscribe']).toBe('<https://news.example.org/unsubscribe/tok.en>, <mailto:news@example.org?subject=unsubscribe%20tok.en>');
  expect(headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
  const a = stableMessageId(['send-1', 'sub-1'], 'https://news.example.org');
  expect(a).toBe(stableMessageId(['send-1', 'sub-1'], 'https://news.example.org'));
  expect(a).not.toBe(stableMessageId(['send-1', 'sub-2'], 'https://news.example.org'));
  expect(a).toMatch(/^<[A-Za-z0-9_-]{32}@news\.example\.org>$/);
  expect(a).not.toContain('sub-1');
});

test('SMTP failures: 5xx to RCPT or DATA is permanent; 4xx, connection trouble and 5xx to AUTH are temporary', () => {
  expect(classifySmtpError({ responseCode: 550, command: 'RCPT TO' })).toBe('permanent');
  expect(classifySmtpError({ responseCode: 554, command: 'DATA' })).toBe('permanent');
  expect(classifySmtpError({ responseCode: 451, command: 'RCPT TO' })).toBe('temporary');
  expect(classifySmtpError({ responseCode: 421, command: 'CONN' })).toBe('temporary');
  expect(classifySmtpError({ code: 'ECONNREFUSED' })).toBe('temporary');
  expect(classifySmtpError({ code: 'ETIMEDOUT' })).toBe('temporary');
  expect(classifySmtpError({ responseCode: 535, command: 'AUTH PLAIN' })).toBe('temporary');
});

test('parts whose lines are short go as 8bit UTF-8, and decode to the same values', async () => {
  const html = `<p>${m.ifFilled('name')}你好 ${m.token('name')}，${m.endIf('name')}</p>\n<a href="${m.token('unsubscribe_url')}">退订</a>\n.leading dot\n`;
  const text = `你好 ${m.token('name')}\n.leading dot\n退订: ${m.token('unsubscribe_url')}\n`;
  const mime = template(html, text);
  const values = { name: '王\r\nBcc: x@y', preferences_url: 'https://p', unsubscribe_url: 'https://n.example.org/unsubscribe/a&b', web_url: 'https://w' };
  const { raw, eightBit } = mime.build({ to: 'a@example.org', messageId: '<8@x>', date: new Date(), values, headers: {} });
  expect(eightBit).toBe(true);
  const wire = raw.toString('utf8');
  expect(wire).toContain('Content-Transfer-Encoding: 8bit');
  expect(wire).toContain('你好');
  for (const line of wire.split('\r\n')) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(998);
  expect(wire.replace(/\r\n/g, '')).not.toMatch(/\n/); // only CRLF line ends
  const parsed = await simpleParser(raw);
  // A value cannot break a line (or add a header) in an 8bit part.
  expect(parsed.text).toBe('你好 王 Bcc: x@y\n.leading dot\n退订: https://n.example.org/unsubscribe/a&b\n');
  expect(parsed.html).toContain('<a href="https://n.example.org/unsubscribe/a&amp;b">退订</a>');
});

test('long HTML lines are folded at spaces outside attribute values, so the text renders the same', () => {
  const href = `https://example.org/${'a b '.repeat(100)}`; // spaces inside a quoted value: never broken
  const line = `<p style="margin: 0 0 6px; padding: 0">${'word '.repeat(150)}<a href="${href}" title='x y'>link text here</a> ${'字 '.repeat(200)}</p>`;
  const folded = foldHtmlLines(line, 120);
  for (const l of folded.split('\n')) {
    if (!l.includes('https://example.org/')) expect(Buffer.byteLength(l)).toBeLessThanOrEqual(120);
  }
  expect(folded).toContain(`href="${href}"`);
  expect(folded).toContain(`style="margin: 0 0 6px; padding: 0"`);
  expect(folded.replace(/\n/g, ' ')).toBe(line);
  expect(foldHtmlLines('short\nlines', 120)).toBe('short\nlines');
});

test('a long name keeps the HTML part 8bit (no quoted-printable blow-up); only a long plain-text line changes encoding', async () => {
  const mime = template(`<p>Hi ${m.token('name')}</p>\n<a href="${m.token('unsubscribe_url')}">x</a>`, `Hi ${m.token('name')}\n`);
  const base = { preferences_url: 'https://p', unsubscribe_url: 'https://u', web_url: 'https://w' };
  for (const name of ['"'.repeat(200), '&'.repeat(199) + '王', '读'.repeat(200), '😀'.repeat(200)]) {
    const { raw, eightBit } = mime.build({ to: 'a@example.org', messageId: '<q@x>', date: new Date(), values: { ...base, name }, headers: {} });
    expect(eightBit).toBe(true);
    const text = raw.toString('utf8');
    expect(text).toMatch(/Content-Type: text\/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit/);
    for (const line of raw.toString('latin1').split('\r\n')) expect(line.length).toBeLessThanOrEqual(998);
    const parsed = await simpleParser(raw);
    expect(parsed.text).toBe(`Hi ${name}\n`);
    // The comments that carry the line breaks are all the HTML gains: it renders the same.
    expect(String(parsed.html).replace(/<!--\r?\n-->/g, '')).toBe(
      `<p>Hi ${name.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}</p>\n<a href="https://u">x</a>`,
    );
    expect(Buffer.byteLength(String(parsed.html))).toBeLessThan(Buffer.byteLength(name) * 6 + 200);
  }
  const short = mime.build({ to: 'a@example.org', messageId: '<r@x>', date: new Date(), values: { ...base, name: 'Ann' }, headers: {} });
  expect(short.raw.toString('latin1')).not.toContain('<!--');
  // A link too long for a line (not one Broadsheet makes) still gets the 7-bit form for the HTML.
  const longLink = mime.build({
    to: 'a@example.org',
    messageId: '<s@x>',
    date: new Date(),
    values: { ...base, name: 'Ann', unsubscribe_url: 'https://u/' + 'x'.repeat(1000) },
    headers: {},
  });
  expect(longLink.eightBit).toBe(false);
  expect(String((await simpleParser(longLink.raw)).html)).toContain('x'.repeat(1000));
});

test('for a server without 8BITMIME every part is 7-bit: quoted-printable for mostly-ASCII text, base64 for CJK', async () => {
  const html = `<p>${'中文内容，'.repeat(400)}</p>\n<p>Hi ${m.token('name')}</p>\n<a href="${m.token('unsubscribe_url')}">x</a>`;
  const text = `Hello ${m.token('name')}, plain ASCII news\nUnsubscribe: ${m.token('unsubscribe_url')}\n`;
  const mime = template(html, text);
  const values = { name: '王小明', preferences_url: 'https://p', unsubscribe_url: 'https://news.example.org/unsubscribe/x', web_url: 'https://w' };
  const fast = mime.build({ to: 'a@example.org', messageId: '<a@x>', date: new Date(), values, headers: {} }, undefined, { eightBitMime: true });
  expect(fast.eightBit).toBe(true);
  const seven = mime.build({ to: 'a@example.org', messageId: '<a@x>', date: new Date(), values, headers: {} }, undefined, { eightBitMime: false });
  expect(seven.eightBit).toBe(false);
  expect(seven.raw.every((b) => b < 0x80)).toBe(true);
  const raw = seven.raw.toString('latin1');
  expect(raw).toMatch(/text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable/);
  expect(raw).toMatch(/text\/html; charset=utf-8\r\nContent-Transfer-Encoding: base64/);
  for (const line of raw.split('\r\n')) expect(line.length).toBeLessThanOrEqual(78);
  // base64 keeps a CJK part near 4/3 of its size (quoted-printable would be nearly 3x).
  expect(seven.raw.length).toBeLessThan(fast.raw.length * 1.45);
  const parsed = await simpleParser(seven.raw);
  const parsedFast = await simpleParser(fast.raw);
  expect(parsed.html).toBe(parsedFast.html);
  expect(parsed.text).toBe(parsedFast.text);
  expect(parsed.text).toBe('Hello 王小明, plain ASCII news\nUnsubscribe: https://news.example.org/unsubscribe/x\n');
});

test('HTML lines that start with a dot get a space first, so SMTP need not double the dot and copy the message', () => {
  const html = '<style>\n.mj-column { width: 100% }\n.x{}</style>\n<p>a\n. b</p>';
  const folded = foldHtmlLines(html, 120);
  expect(folded).toBe('<style>\n .mj-column { width: 100% }\n .x{}</style>\n<p>a\n . b</p>');
  expect(folded.split('\n').some((l) => l.startsWith('.'))).toBe(false);
});

test('messages written into one MessageBuffer are the same bytes as fresh ones, in the same memory', () => {
  const mime = template(
    `<p>Hi ${m.token('name')}</p>\n<a href="${m.token('unsubscribe_url')}">x</a>`,
    `Hi ${m.token('name')}\n${m.token('unsubscribe_url')}\n`,
  );
  const date = new Date('2026-11-28T10:00:00Z');
  const recipient = (name: string) => ({
    to: `${name}@example.org`,
    messageId: `<${name}@x>`,
    date,
    headers: {},
    values: { name, preferences_url: 'https://p', unsubscribe_url: `https://u/${name}`, web_url: 'https://w' },
  });
  const memory = new MessageBuffer();
  const first = mime.build(recipient('a-much-longer-name-than-the-next'), memory).raw;
  expect(first.equals(mime.build(recipient('a-much-longer-name-than-the-next')).raw)).toBe(true);
  const firstMemory = first.buffer;
  const second = mime.build(recipient('bo'), memory).raw;
  expect(second.equals(mime.build(recipient('bo')).raw)).toBe(true);
  expect(second.buffer).toBe(firstMemory);
  expect(second.length).toBeLessThan(first.length);
});
