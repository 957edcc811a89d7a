import { randomBytes } from 'node:crypto';
import * as mimeFuncs from 'nodemailer/lib/mime-funcs';
import * as qp from 'nodemailer/lib/qp';
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
  /**
   * The message for one recipient; `eightBit`: the envelope should declare BODY=8BITMIME.
   * `server.eightBitMime` false (a server that does not offer 8BITMIME, RFC 6152): every part
   * goes as quoted-printable or base64, whichever is smaller for it, and the message is 7-bit.
   */
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
    server?: { eightBitMime: boolean },
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
 * How long a recipient's values may be for the 8bit form (octets, HTML-escaped): signed links
 * are well under 300 octets. A longer value makes that part quoted-printable (or base64), which
 * has no line limit to fear. The name is the one value a reader chooses (up to 200 characters,
 * 1,200 octets once escaped): in the HTML it is cut into pieces of at most NAME_PIECE octets
 * by an empty comment holding a line break, so a long name never turns the whole HTML
 * part into quoted-printable (which took a CJK issue past Gmail's 102 KB clipping).
 */
const EIGHT_BIT_VALUE_LIMIT = 300;
const NAME_PIECE = 200;
const LIMIT_VALUES: Record<TokenName, string> = {
  name: 'x'.repeat(EIGHT_BIT_VALUE_LIMIT),
  preferences_url: 'x'.repeat(EIGHT_BIT_VALUE_LIMIT),
  unsubscribe_url: 'x'.repeat(EIGHT_BIT_VALUE_LIMIT),
  web_url: 'x'.repeat(EIGHT_BIT_VALUE_LIMIT),
};

/** Whether the links fit the 8bit form (the HTML part), and whether the name does too (the text part). */
function valuesFit(values: Record<TokenName, string>): { links: boolean; all: boolean } {
  let links = true;
  for (const key in values) {
    if (key !== 'name' && Buffer.byteLength(values[key as TokenName]) > EIGHT_BIT_VALUE_LIMIT) links = false;
  }
  return { links, all: links && Buffer.byteLength(values.name ?? '') <= EIGHT_BIT_VALUE_LIMIT };
}

/**
 * An escaped name longer than NAME_PIECE octets, with `<!--CRLF-->` between pieces: a comment
 * renders as nothing, and the line break it holds keeps every line of the 8bit HTML part under
 * SMTP's limit. Safe because the name is only ever text content in Broadsheet's HTML (the
 * greeting), never an attribute; a cut never falls inside a character reference or a
 * surrogate pair.
 */
export function breakLongName(escaped: string): string {
  if (escaped.length * 3 <= NAME_PIECE || Buffer.byteLength(escaped) <= NAME_PIECE) return escaped;
  let out = '';
  let bytes = 0;
  let inReference = false;
  for (let i = 0; i < escaped.length; i++) {
    const c = escaped[i]!;
    const code = c.charCodeAt(0);
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code >= 0xd800 && code < 0xdc00 ? 4 : code >= 0xdc00 && code < 0xe000 ? 0 : 3;
    if (bytes + size > NAME_PIECE - 8 && !inReference && size !== 0) {
      out += '<!--\r\n-->';
      bytes = 0;
    }
    if (c === '&') inReference = true;
    else if (c === ';') inReference = false;
    out += c;
    bytes += size;
  }
  return out;
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
    .encoded(
      (x) => x,
      (v, token) => (mode === 'html' && token === 'name' ? breakLongName(v) : v),
    )
    .fill(LIMIT_VALUES, mode)
    .split(/\r?\n/)
    .every((line) => Buffer.byteLength(line) <= SMTP_MAX_LINE);
}

/**
 * For a server without 8BITMIME: quoted-printable costs 3 octets for each non-ASCII one and
 * base64 4 for every 3; past about one non-ASCII octet in six (a CJK issue), base64 is smaller.
 */
function sevenBitEncoding(p: Personalizer, mode: 'html' | 'text'): SevenBit {
  const bytes = Buffer.from(p.fill(LIMIT_VALUES, mode), 'utf8');
  let high = 0;
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) high++;
  return high * 6 > bytes.length ? 'base64' : 'quoted-printable';
}

type SevenBit = 'quoted-printable' | 'base64';
type TransferEncoding = '8bit' | SevenBit;

function qpChunk(s: string): string {
  if (s === '') return '';
  // 75, not 76: the soft break's "=" goes on the same line.
  return qp.wrap(qp.encode(s.replace(/\r?\n/g, CRLF)), 75) + '=' + CRLF;
}

/** Base64 in lines of 76 (RFC 2045), the last without its line break (the boundary brings one). */
function base64Lines(content: Buffer): Buffer {
  const b64 = content.toString('base64');
  const out = Buffer.allocUnsafe(b64.length + Math.ceil(b64.length / 76) * 2);
  let at = 0;
  for (let i = 0; i < b64.length; i += 76) {
    if (i > 0) {
      out[at++] = 13;
      out[at++] = 10;
    }
    at += out.write(b64.slice(i, i + 76), at, 'latin1');
  }
  return out.subarray(0, at);
}

export function header(name: string, value: string): string {
  const encoded = mimeFuncs.isPlainText(value) ? value : mimeFuncs.encodeWords(value, 'Q', 52);
  return mimeFuncs.foldLines(`${name}: ${encoded}`, 76) + CRLF;
}

/**
 * Headers whose values are addresses or ids are written as given (already encoded). A value
 * without white space (Message-ID, Feedback-ID) is not folded: the only place left to fold
 * would be right after the colon, which some readers keep as a leading space of the value.
 */
function rawHeader(name: string, value: string): string {
  if (!/\s/.test(value) && name.length + value.length < 900) return `${name}: ${value}${CRLF}`;
  return mimeFuncs.foldLines(`${name}: ${value}`, 76) + CRLF;
}

type Pieces = { fill(values: Record<TokenName, string>, mode: 'html' | 'text'): Buffer[] };

/** One part's body in one transfer encoding: static parts encoded once, values per recipient. */
function encodeBody(p: Personalizer, mode: 'html' | 'text', encoding: TransferEncoding): Pieces {
  if (encoding === 'quoted-printable') return p.encoded(qpChunk, qpChunk).bytes('latin1');
  const eight = p
    .encoded(normalizeLines, (v, token) => {
      const oneLine = v.replace(/[\r\n]+/g, ' ');
      return mode === 'html' && token === 'name' ? breakLongName(oneLine) : oneLine;
    })
    .bytes('utf8');
  if (encoding === '8bit') return eight;
  // Base64 cannot be cut at arbitrary places: the part is encoded whole for every message.
  // Only a server without 8BITMIME takes this path; everyone else gets the 8bit form.
  return { fill: (values, m) => [base64Lines(Buffer.concat(eight.fill(values, m)))] };
}

export function buildMimeTemplate(parts: MimeParts): MimeTemplate {
  const boundary = `bs-${randomBytes(12).toString('hex')}`;
  const staticHead =
    rawHeader('From', parts.from) +
    (parts.replyTo ? rawHeader('Reply-To', parts.replyTo) : '') +
    header('Subject', parts.subject) +
    Object.entries(parts.headers)
      .map(([k, v]) => rawHeader(k, v))
      .join('') +
    'MIME-Version: 1.0' +
    CRLF +
    `Content-Type: multipart/alternative; boundary="${boundary}"` +
    CRLF +
    CRLF;
  const partHead = (type: string, encoding: TransferEncoding) =>
    `--${boundary}${CRLF}Content-Type: ${type}; charset=utf-8${CRLF}Content-Transfer-Encoding: ${encoding}${CRLF}${CRLF}`;
  // Each part's bodies, encoded on first use: most variants only ever need their 8bit form.
  const bodies = new Map<string, Pieces>();
  const body = (mode: 'html' | 'text', encoding: TransferEncoding): Pieces => {
    const key = `${mode}/${encoding}`;
    let found = bodies.get(key);
    if (!found) bodies.set(key, (found = encodeBody(mode === 'html' ? parts.html : parts.text, mode, encoding)));
    return found;
  };
  const form = (textEncoding: TransferEncoding, htmlEncoding: TransferEncoding) => {
    const textBody = body('text', textEncoding);
    const htmlBody = body('html', htmlEncoding);
    const textHead = partHead('text/plain', textEncoding);
    const between = Buffer.from(CRLF + partHead('text/html', htmlEncoding), 'latin1');
    const end = Buffer.from(`${CRLF}--${boundary}--${CRLF}`, 'latin1');
    return {
      eightBit: textEncoding === '8bit' || htmlEncoding === '8bit',
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
  const textFits = fitsEightBit(parts.text, 'text');
  const htmlFits = fitsEightBit(parts.html, 'html');
  const sevenBit = { text: sevenBitEncoding(parts.text, 'text'), html: sevenBitEncoding(parts.html, 'html') };
  const forms = new Map<string, ReturnType<typeof form>>();
  const formFor = (text: TransferEncoding, html: TransferEncoding) => {
    const key = `${text}/${html}`;
    let found = forms.get(key);
    if (!found) forms.set(key, (found = form(text, html)));
    return found;
  };
  const usual = formFor(textFits ? '8bit' : sevenBit.text, htmlFits ? '8bit' : sevenBit.html);

  return {
    build({ to, messageId, date, values, headers }, into, server) {
      let head = rawHeader('To', to) + rawHeader('Date', date.toUTCString().replace('GMT', '+0000')) + rawHeader('Message-ID', messageId);
      for (const name in headers) head += rawHeader(name, headers[name]!);
      let chosen = usual;
      if (server && !server.eightBitMime) chosen = formFor(sevenBit.text, sevenBit.html);
      else if (usual.eightBit) {
        const fit = valuesFit(values);
        if (!fit.all) chosen = formFor(textFits && fit.all ? '8bit' : sevenBit.text, htmlFits && fit.links ? '8bit' : sevenBit.html);
      }
      return { raw: chosen.write(head, values, into), eightBit: chosen.eightBit };
    },
  };
}
