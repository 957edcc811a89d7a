import { createHash } from 'node:crypto';
import { domainToASCII } from 'node:url';
import addressparser from 'nodemailer/lib/addressparser';
import * as mimeFuncs from 'nodemailer/lib/mime-funcs';

/**
 * The headers every email of a list carries, built in one place for system mail and
 * newsletters alike (docs/promises.md: "What every sent newsletter email carries").
 */

/** `"Name" <address>`, with the name MIME-encoded when it is not plain ASCII. */
export function formatAddress(name: string, email: string): string {
  const clean = name.replace(/[\r\n\u0000-\u001f]/g, ' ').trim();
  email = asciiDomain(email);
  if (!clean) return email;
  const display = mimeFuncs.isPlainText(clean) ? mimeFuncs.quoteString(clean) : mimeFuncs.encodeWord(clean, 'Q', 52);
  return `${display} <${email}>`;
}

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * The address with an internationalised domain as punycode (`例子.中国` → `xn--fsqu00a.xn--fiqs8s`),
 * the form every SMTP server and header parser takes. The local part is left as it is: only
 * a server that offers SMTPUTF8 can carry a non-ASCII one (see `needsSmtpUtf8`).
 */
export function asciiDomain(email: string): string {
  if (!NON_ASCII.test(email)) return email;
  const at = email.lastIndexOf('@');
  if (at < 0) return email;
  const domain = domainToASCII(email.slice(at + 1));
  return domain ? email.slice(0, at + 1) + domain : email;
}

/** Whether the address's local part is not ASCII (`用户@…`): it needs SMTPUTF8 (RFC 6531). */
export function needsSmtpUtf8(email: string): boolean {
  if (!NON_ASCII.test(email)) return false;
  return NON_ASCII.test(email.slice(0, email.lastIndexOf('@')));
}

/**
 * A mailbox as an editor wrote it (`周报 Tokens <tokens@example.org>`, a list's From or
 * Reply-To) as a header value: the name RFC 2047-encoded when it is not ASCII, the domain in
 * punycode. Unparseable input is returned as it was (lists validate it when saved).
 */
export function encodeMailbox(mailbox: string): string {
  const [parsed] = addressparser(mailbox);
  if (!parsed || !('address' in parsed) || !parsed.address) return mailbox;
  return formatAddress(parsed.name ?? '', asciiDomain(parsed.address));
}

/** The bare address of a `"Name" <addr>` string, for the SMTP envelope. */
export function bareAddress(address: string): string {
  const m = /<([^<>]+)>\s*$/.exec(address);
  return (m ? m[1]! : address).trim();
}

function hostOf(publicUrl: string): string {
  return new URL(publicUrl).hostname;
}

/**
 * RFC 2919: a list's stable identifier, `<slug.host>`, with its name as the phrase. Only the
 * phrase is ever encoded: filters match the `<…>` part, which must stay readable as it is.
 * The value is ready for a header and must be written as it is (mime.ts `rawHeader`).
 */
export function listId(list: { slug: string; name: string }, publicUrl: string): string {
  const phrase = mimeFuncs.isPlainText(list.name) ? mimeFuncs.quoteString(list.name) : mimeFuncs.encodeWord(list.name, 'Q', 52);
  return `${phrase} <${list.slug}.${hostOf(publicUrl)}>`;
}

/**
 * Gmail's Feedback-ID (`a:b:c:SenderId`): complaint rates per send and per list in Postmaster
 * Tools. The same for every message of a send, so it is part of the variant's static headers.
 */
export function feedbackId(sendId: string, listSlug: string, senderId: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '-');
  return `${clean(sendId)}:${clean(listSlug)}:broadsheet:${clean(senderId)}`;
}

/**
 * A Message-ID that is the same for the same message and recipient, so that the one copy a
 * crash may send twice is recognisable (and collapsed by many mail systems) as the same email.
 * Hashed: the id is visible to the recipient's provider and must not reveal internal ids.
 */
export function stableMessageId(parts: readonly string[], publicUrl: string): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 32);
  return `<${digest}@${hostOf(publicUrl)}>`;
}

/**
 * List-Unsubscribe (an https one-click URL and a mailto, for clients that only do mailto) and
 * RFC 8058's List-Unsubscribe-Post. The mailto is `unsubscribeMailbox` when inbound mail is
 * set up (BOUNCE_DOMAIN: the address itself is the signed token, and the listener acts on it);
 * without it, the list's sender with the token in the subject, for the editor to act on.
 */
export function unsubscribeHeaders(unsubscribeUrl: string, fromAddress: string, unsubscribeMailbox?: string): Record<string, string> {
  const token = unsubscribeUrl.slice(unsubscribeUrl.lastIndexOf('/') + 1);
  const mailto = unsubscribeMailbox
    ? `mailto:${unsubscribeMailbox}?subject=unsubscribe`
    : `mailto:${asciiDomain(bareAddress(fromAddress))}?subject=${encodeURIComponent(`unsubscribe ${token}`)}`;
  return {
    'List-Unsubscribe': `<${unsubscribeUrl}>, <${mailto}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  };
}
