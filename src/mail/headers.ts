import { createHash } from 'node:crypto';
import * as mimeFuncs from 'nodemailer/lib/mime-funcs';

/**
 * The headers every email of a list carries, built in one place for system mail and
 * newsletters alike (platform.md: "What every sent newsletter email carries").
 */

/** `"Name" <address>`, with the name MIME-encoded when it is not plain ASCII. */
export function formatAddress(name: string, email: string): string {
  const clean = name.replace(/[\r\n\u0000-\u001f]/g, ' ').trim();
  if (!clean) return email;
  const display = mimeFuncs.isPlainText(clean) ? mimeFuncs.quoteString(clean) : mimeFuncs.encodeWord(clean, 'Q', 52);
  return `${display} <${email}>`;
}

/** The bare address of a `"Name" <addr>` string, for the SMTP envelope. */
export function bareAddress(address: string): string {
  const m = /<([^<>]+)>\s*$/.exec(address);
  return (m ? m[1]! : address).trim();
}

function hostOf(publicUrl: string): string {
  return new URL(publicUrl).hostname;
}

/** RFC 2919: a list's stable identifier, `<slug.host>`, with its name as the phrase. */
export function listId(list: { slug: string; name: string }, publicUrl: string): string {
  const phrase = mimeFuncs.isPlainText(list.name) ? mimeFuncs.quoteString(list.name) : mimeFuncs.encodeWord(list.name, 'Q', 52);
  return `${phrase} <${list.slug}.${hostOf(publicUrl)}>`;
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
 * List-Unsubscribe (an https one-click URL and a mailto to the list's sender with the token
 * in the subject, for clients that only do mailto) and RFC 8058's List-Unsubscribe-Post.
 */
export function unsubscribeHeaders(unsubscribeUrl: string, fromAddress: string): Record<string, string> {
  const token = unsubscribeUrl.slice(unsubscribeUrl.lastIndexOf('/') + 1);
  const mailto = `mailto:${bareAddress(fromAddress)}?subject=${encodeURIComponent(`unsubscribe ${token}`)}`;
  return {
    'List-Unsubscribe': `<${unsubscribeUrl}>, <${mailto}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  };
}
