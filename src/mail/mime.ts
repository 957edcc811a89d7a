import { randomBytes } from 'node:crypto';
import * as mimeFuncs from 'nodemailer/lib/mime-funcs';
import * as qp from 'nodemailer/lib/qp';
import { escapeHtml } from '../escape-html';
import type { Personalizer, TokenName } from './personalize';

/**
 * A newsletter variant as a MIME message built once, with only the per-recipient parts left
 * open. Composing MIME for every message through nodemailer costs milliseconds (about 200
 * messages a second here); writing a recipient into a prebuilt message costs microseconds.
 *
 * A part whose lines are all short enough goes as 8bit (RFC 6152): UTF-8 as it is, with
 * BODY=8BITMIME declared to servers that offer it, which every current MTA does. For the
 * Chinese seed issue that is 100 KB a message instead of 160 KB in quoted-printable, and every
 * byte is scanned again by the SMTP client's dot-stuffing. A part with a line too long for
 * SMTP (998 octets) is quoted-printable: QP allows a soft line break anywhere, so every static
 * part is encoded once, ending in a soft break, and each recipient's values are encoded on
 * their own; the concatenation is a valid QP body whatever the values are.
 */
export interface MimeTemplate {
  /** The message for one recipient; `eightBit`: the envelope should declare BODY=8BITMIME. */
  build(
    recipient: {
      to: string;
      messageId: string;
      date: Date;
      values: Record<TokenName, string>;
      headers: Record<string, string>;
    },
    /** Memory to write the message into, reused message after message; by default a new Buffer. */
    into?: MessageBuffer,
  ): { raw: Buffer; eightBit: boolean };
}

/**
 * The memory of one message in flight, written again for the next message once the SMTP
 * server has taken this one. A new 100 KB Buffer per message is, at full speed, some 150 MB a
 * second of memory outside V8's heap that is only freed when a collection happens to run; the
 * worker's RSS grew by as much. Not to be reused after a failed send: the failing connection
 * may still hold it.
 */
export class MessageBuffer {
  private memory = Buffer.alloc(0);
  /** At least `size` bytes (with room to spare for the next recipient's longer values). */
  take(size: number): Buffer {
    if (this.memory.length < size) this.memory = Buffer.allocUnsafeSlow(size + 8192);
    return this.memory;
  }
}

export interface MimeParts {
  from: string;
  replyTo?: string;
  subject: string;
  /** Headers that are the same for every recipient (List-Id, …). */
  headers: Record<string, string>;
  html: Personalizer;
  text: Personalizer;
}

const CRLF = '\r\n';

/** SMTP's limit on a line, CRLF excluded (RFC 5321 4.5.3.1.6). */
const SMTP_MAX_LINE = 998;

/**
 * How long a recipient's values may be for the 8bit form (octets, HTML-escaped): a name of 100
 * CJK characters, signed links well under 300 octets. A recipient with longer values gets the
 * quoted-printable form, which has no line limit to fear.
 */
const EIGHT_BIT_VALUE_LIMIT = 300;
const LIMIT_VALUES: Record<TokenName, string> = {
  name: 'x'.repeat(EIGHT_BIT_VALUE_LIMIT),
  preferences_url: 'x'.repeat(EIGHT_BIT_VALUE_LIMIT),
  unsubscribe_url: 'x'.repeat(EIGHT_BIT_VALUE_LIMIT),
  web_url: 'x'.repeat(EIGHT_BIT_VALUE_LIMIT),
};

function valuesWithinLimit(values: Record<TokenName, string>): boolean {
  for (const key in values) {
    const value = values[key as TokenName];
    if (Buffer.byteLength(key === 'name' ? escapeHtml(value) : value) > EIGHT_BIT_VALUE_LIMIT) return false;
  }
  return true;
}

/**
 * Makes HTML lines fit SMTP well:
 * - A line longer than `max` octets is broken at a space, so that the part can go as 8bit: a
 *   space and a line break are the same whitespace to HTML, in text and between a tag's
 *   attributes alike, but not inside a quoted attribute value, where no break is made.
 *   Broadsheet's emails use no `<pre>` or `white-space: pre`. Lines with no such space stay
 *   long (and that part is then quoted-printable).
 * - A line that starts with a dot (MJML's CSS rules, once the indentation is gone) gets a space
 *   before it, which is the same whitespace to HTML and CSS: otherwise SMTP doubles the dot
 *   (RFC 5321 4.5.2), which means copying the whole message again for every recipient.
 */
export function foldHtmlLines(html: string, max = 500): string {
  return html
    .split('\n')
    .map((line) => (Buffer.byteLength(line) <= max ? line : foldLine(line, max)))
    .join('\n')
    .replace(/\n\./g, '\n .');
}

function foldLine(line: string, max: number): string {
  const out: string[] = [];
  let start = 0;
  let bytes = 0;
  let lastBreak = -1;
  let inTag = false;
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    const code = c.charCodeAt(0);
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code >= 0xd800 && code < 0xdc00 ? 4 : code >= 0xdc00 && code < 0xe000 ? 0 : 3;
    if (quote) {
      if (c === quote) quote = '';
    } else if (inTag && (c === '"' || c === "'")) quote = c;
    else if (c === '<') inTag = true;
    else if (c === '>') inTag = false;
    else if (c === ' ') lastBreak = i;
    if (bytes > max && lastBreak > start) {
      out.push(line.slice(start, lastBreak));
      start = lastBreak + 1;
      bytes = Buffer.byteLength(line.slice(start, i + 1));
      lastBreak = -1;
    }
  }
  out.push(line.slice(start));
  return out.join('\n');
}

function normalizeLines(s: string): string {
  return s.replace(/\r?\n/g, CRLF);
}

/** Whether every line of the part stays within SMTP's limit with values up to the limit. */
function fitsEightBit(p: Personalizer, mode: 'html' | 'text'): boolean {
  return p
    .fill(LIMIT_VALUES, mode)
    .split(/\r?\n/)
    .every((line) => Buffer.byteLength(line) <= SMTP_MAX_LINE);
}

function qpChunk(s: string): string {
  if (s === '') return '';
  // 75, not 76: the soft break's "=" goes on the same line.
  return qp.wrap(qp.encode(s.replace(/\r?\n/g, CRLF)), 75) + '=' + CRLF;
}

export function header(name: string, value: string): string {
  const encoded = mimeFuncs.isPlainText(value) ? value : mimeFuncs.encodeWords(value, 'Q', 52);
  return mimeFuncs.foldLines(`${name}: ${encoded}`, 76) + CRLF;
}

/** Headers whose values are addresses or ids are written as given (already encoded). */
function rawHeader(name: string, value: string): string {
  return mimeFuncs.foldLines(`${name}: ${value}`, 76) + CRLF;
}

export function buildMimeTemplate(parts: MimeParts): MimeTemplate {
  const boundary = `bs-${randomBytes(12).toString("hex")}`;
  const staticHead =
    rawHeader('From', parts.from) +
    (parts.replyTo ? rawHeader('Reply-To', parts.replyTo) : '') +
    header('Subject', parts.subject) +
    Object.entries(parts.headers)
      .map(([k, v]) => rawHeader(k, v))
      .join('') +
    'MIME-Version: 1.0' + CRLF +
    `Content-Type: multipart/alternative; boundary="${boundary}"` + CRLF +
    CRLF;
  const partHead = (type: string, eight: boolean) =>
    `--${boundary}${CRLF}Content-Type: ${type}; charset=utf-8${CRLF}Content-Transfer-Encoding: ${eight ? '8bit' : 'quoted-printable'}${CRLF}${CRLF}`;
  const form = (textEight: boolean, htmlEight: boolean) => {
    // Encoded to bytes once: per recipient only the values are encoded (a QP body is ASCII).
    const body = (p: Personalizer, eight: boolean) =>
      eight ? p.encoded(normalizeLines, (v) => v.replace(/[\r\n]+/g, ' ')).bytes('utf8') : p.encoded(qpChunk, qpChunk).bytes('latin1');
    const textBody = body(parts.text, textEight);
    const htmlBody = body(parts.html, htmlEight);
    const textHead = partHead('text/plain', textEight);
    const between = Buffer.from(CRLF + partHead('text/html', htmlEight), 'latin1');
    const end = Buffer.from(`${CRLF}--${boundary}--${CRLF}`, 'latin1');
    return {
      eightBit: textEight || htmlEight,
      write(head: string, values: Record<TokenName, string>, into: MessageBuffer | undefined): Buffer {
        const pieces = [Buffer.from(head + staticHead + textHead, 'utf8'), ...textBody.fill(values, 'text'), between, ...htmlBody.fill(values, 'html'), end];
        if (!into) return Buffer.concat(pieces);
        let size = 0;
        for (const piece of pieces) size += piece.length;
        const memory = into.take(size);
        let at = 0;
        for (const piece of pieces) at += piece.copy(memory, at);
        return memory.subarray(0, size);
      },
    };
  };
  const usual = form(fitsEightBit(parts.text, 'text'), fitsEightBit(parts.html, 'html'));
  let quotedPrintable: ReturnType<typeof form> | undefined;

  return {
    build({ to, messageId, date, values, headers }, into) {
      let head = rawHeader('To', to) + rawHeader('Date', date.toUTCString().replace('GMT', '+0000')) + rawHeader('Message-ID', messageId);
      for (const name in headers) head += rawHeader(name, headers[name]!);
      const chosen = !usual.eightBit || valuesWithinLimit(values) ? usual : (quotedPrintable ??= form(false, false));
      return { raw: chosen.write(head, values, into), eightBit: chosen.eightBit };
    },
  };
}
