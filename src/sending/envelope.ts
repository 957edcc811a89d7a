import type { Config } from '../config';
import type { List } from '../db/schema';
import { asciiDomain, bareAddress, formatAddress, needsSmtpUtf8, unsubscribeHeaders } from '../mail/headers';
import type { ServerCapabilities } from '../mail/transport';
import { signMailToken } from '../subscribers/tokens';

/**
 * Where one newsletter message goes and who answers for it: the SMTP envelope, the To header
 * and the per-recipient headers. With BOUNCE_DOMAIN the envelope sender is a VERP address
 * naming this delivery (an asynchronous bounce or a complaint comes back to it and is matched
 * without reading the report's guesswork), and List-Unsubscribe's mailto is an address that
 * itself unsubscribes. Without it, both are the list's From address, as before.
 */
export interface Addressing {
  envelope: { from: string; to: string };
  to: string;
  headers: Record<string, string>;
}

export function bounceAddress(config: Pick<Config, 'secretKeys' | 'bounceDomain'>, deliveryId: number, now: Date): string | undefined {
  return config.bounceDomain ? `bounce+${signMailToken(config.secretKeys, 'bounce', deliveryId, now)}@${config.bounceDomain}` : undefined;
}

export function unsubscribeAddress(config: Pick<Config, 'secretKeys' | 'bounceDomain'>, subscriptionId: string): string | undefined {
  return config.bounceDomain ? `unsubscribe+${signMailToken(config.secretKeys, 'unsubscribe', subscriptionId)}@${config.bounceDomain}` : undefined;
}

export function newsletterAddressing(
  config: Pick<Config, 'secretKeys' | 'bounceDomain'>,
  list: Pick<List, 'from_address'>,
  recipient: { deliveryId?: number; subscriptionId?: string; email: string; name: string },
  unsubscribeUrl: string | undefined,
  now: Date,
): Addressing {
  const from = (recipient.deliveryId !== undefined && bounceAddress(config, recipient.deliveryId, now)) || asciiDomain(bareAddress(list.from_address));
  return {
    envelope: { from, to: asciiDomain(recipient.email) },
    to: formatAddress(recipient.name, recipient.email),
    headers: unsubscribeUrl
      ? unsubscribeHeaders(unsubscribeUrl, list.from_address, recipient.subscriptionId ? unsubscribeAddress(config, recipient.subscriptionId) : undefined)
      : {},
  };
}

/**
 * Why a message cannot go to this server at all, or undefined. An address with a non-ASCII
 * local part (`用户@例子.中国`) can only be carried by a server that offers SMTPUTF8 (RFC 6531);
 * sent without it, the server or the next hop mangles or refuses it. Recorded as the
 * delivery's failure, in words an editor can act on.
 */
export function undeliverableReason(email: string, server: ServerCapabilities): string | undefined {
  if (needsSmtpUtf8(email) && !server.smtpUtf8) {
    return 'not sent: the address has a non-ASCII local part and the SMTP server does not offer SMTPUTF8 (use a relay that does)';
  }
  return undefined;
}
