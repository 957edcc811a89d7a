import isEmail from 'validator/lib/isEmail';

/**
 * What counts as a subscriber's address and name, the same for the form, the API and a CSV
 * import: an address someone could subscribe with can also be imported, and the reverse.
 */

/**
 * Bidirectional formatting characters (LRM, RLM, ALM, the embeddings, overrides and isolates).
 * They make "moc.elpmaxe@…" display as something else in a mail client's From/To line or in an
 * editor's export: a name or address has no honest use for them, so they are refused, not
 * silently dropped (dropping would store something other than what the person typed).
 */
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

export function isValidAddress(email: string): boolean {
  // 254: the longest path an SMTP server must accept (RFC 5321). A TLD is required and IP
  // literals refused: neither belongs in a newsletter list.
  return email.length > 0 && email.length <= 254 && !BIDI_CONTROLS.test(email) && isEmail(email, { require_tld: true, allow_ip_domain: false });
}

export const NAME_MAX = 200;

/**
 * A name as stored: control characters (which would end up in the To header) and line breaks
 * become spaces, runs of white space one space, the ends trimmed. A string is the reason it
 * is refused, worded to follow "name: " or "line N: ".
 */
export function cleanName(raw: string): { name: string } | { problem: string } {
  if (BIDI_CONTROLS.test(raw)) return { problem: 'contains right-to-left or other direction control characters' };
  const name = raw
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (name.length > NAME_MAX) return { problem: `longer than ${NAME_MAX} characters` };
  return { name };
}
