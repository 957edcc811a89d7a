import { sql } from 'kysely';
import type { Db } from '../db/database';
import { AppError } from '../errors';
import { emailHash } from './repository';

export interface ForgetResult {
  /** Whether a subscriber with this address existed (and is now gone). */
  found: boolean;
  /** How many subscriptions (on all lists) went with it, their events too. */
  subscriptions: number;
}

/**
 * Erases a person everywhere (GDPR "right to erasure"): the subscriber row, and through the
 * foreign keys' ON DELETE CASCADE their subscriptions on every list and every event of those.
 * Only a hash of the address stays, in forgotten_emails, so that an import cannot bring them
 * back. An address that is not on file is refused (`not_found`): a typo would otherwise block
 * the address it missed from every import, for ever; `evenIfUnknown` records the hash anyway
 * (a person who asks never to be added), and `unforgetAddress` lifts a block.
 *
 * Used by `broadsheet subscribers forget`, POST /api/v1/subscribers/forget and the reader's own
 * "delete me" on the preference page. Jobs already queued for the erased subscriptions find no
 * row and do nothing.
 */
export async function forgetSubscriber(db: Db, email: string, options: { evenIfUnknown?: boolean } = {}): Promise<ForgetResult> {
  const address = email.trim();
  // Deliberately loose: erasure must never be refused because an address stored long ago
  // does not pass today's validation.
  if (address === '' || !address.includes('@')) throw new AppError('invalid_input', `"${address}" is not an email address`);

  return db.transaction().execute(async (trx) => {
    await trx
      .insertInto('forgotten_emails')
      .values({ email_hash: emailHash(address) })
      .onConflict((oc) => oc.column('email_hash').doNothing())
      .execute();
    const subscriber = await trx
      .selectFrom('subscribers')
      .select('id')
      .where(sql<string>`lower(email)`, '=', address.toLowerCase())
      .forUpdate()
      .executeTakeFirst();
    if (!subscriber) {
      // Thrown inside the transaction: the hash written above is rolled back with it.
      if (!options.evenIfUnknown) {
        throw new AppError('not_found', `no subscriber with the address ${address} (to block it from imports all the same: --even-if-unknown)`);
      }
      return { found: false, subscriptions: 0 };
    }
    const { n } = await trx
      .selectFrom('subscriptions')
      .select(trx.fn.countAll<number>().as('n'))
      .where('subscriber_id', '=', subscriber.id)
      .executeTakeFirstOrThrow();
    await trx.deleteFrom('subscribers').where('id', '=', subscriber.id).execute();
    return { found: true, subscriptions: Number(n) };
  });
}

/**
 * Lifts a block: the address's hash leaves forgotten_emails, so imports may add it again.
 * Returns whether there was one. Nothing of the person comes back: forgetting erased it.
 */
export async function unforgetAddress(db: Db, email: string): Promise<boolean> {
  const removed = await db.deleteFrom('forgotten_emails').where('email_hash', '=', emailHash(email)).returning('email_hash').executeTakeFirst();
  return removed !== undefined;
}
