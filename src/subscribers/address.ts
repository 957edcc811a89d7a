import isEmail from 'validator/lib/isEmail';

/**
 * What counts as a subscriber's address and name, the same for the form, the API and a CSV
 * import: an address someone could subscribe with can also be imported, and the reverse.
 */
export function isValidAddress(email: string): boolean {
  // 254: the longest path an SMTP server must accept (RFC 5321). A TLD is required and IP
  // literals refused: neither belongs in a newsletter list.
  return email.length > 0 && email.length <= 254 && isEmail(email, { require_tld: true, allow_ip_domain: false });
}

export const NAME_MAX = 200;
