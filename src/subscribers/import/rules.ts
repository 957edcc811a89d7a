import type { Cadence, SubscriptionStatus } from '../../db/schema';
import { AppError } from '../../errors';
import { cleanName, isValidAddress } from '../address';
import { unescapeFormula } from '../export';

/**
 * The import's rules, as pure functions: which columns a header names, whether a row is good
 * (with the same rules for addresses and names as the subscribe form), and what a good row
 * does to the subscription stored for its address. See import.ts for the promises they keep.
 */

export const COLUMNS = ['email', 'name', 'cadence', 'status'] as const;
type Column = (typeof COLUMNS)[number];
export type ColumnIndex = Partial<Record<Column, number>>;

export interface Header {
  columns: ColumnIndex;
  length: number;
  /** Header columns the import does not use (created_at and confirmed_at from an export, say). */
  ignored: string[];
}

const STATUSES: readonly SubscriptionStatus[] = ['pending', 'active', 'unsubscribed', 'bounced', 'complained'];
const CADENCES: readonly Cadence[] = ['weekly', 'monthly'];
export const SUPPRESSED: ReadonlySet<SubscriptionStatus> = new Set(['unsubscribed', 'bounced', 'complained']);

/** One valid row of the file. */
export interface ImportRow {
  line: number;
  email: string;
  name: string;
  cadence: Cadence | undefined;
  status: SubscriptionStatus | undefined;
}

export function shown(value: string): string {
  return JSON.stringify(value.length > 80 ? value.slice(0, 80) + '…' : value);
}

/** The header line: which column is which. A file without an email column is refused whole. */
export function readHeader(fields: string[], line: number): Header {
  const columns: ColumnIndex = {};
  const ignored: string[] = [];
  fields.forEach((field, i) => {
    const name = field.trim().toLowerCase();
    const known = COLUMNS.find((c) => c === name);
    if (!known) {
      ignored.push(name);
      return;
    }
    if (columns[known] !== undefined) throw new AppError('invalid_input', `line ${line}: the header names the column "${known}" twice`);
    columns[known] = i;
  });
  if (columns.email === undefined) {
    throw new AppError('invalid_input', `missing header: line ${line} must name the columns, like "${COLUMNS.join(',')}" (found ${shown(fields.join(','))})`);
  }
  return { columns, length: fields.length, ignored };
}

/** Checks one data record against the header: the row, or the reason it is bad. */
export function readRow(fields: string[], header: Pick<Header, 'columns' | 'length'>, line: number): ImportRow | string {
  // More fields than columns usually means an unquoted comma in a name: the values would land
  // in the wrong columns, so the row is refused rather than guessed at. Fewer is fine: missing
  // trailing columns are empty.
  if (fields.length > header.length) return `${fields.length} fields where the header has ${header.length} (a comma in a name needs quotes)`;
  const field = (c: Column) => {
    const i = header.columns[c];
    return i === undefined ? '' : (fields[i] ?? '').trim();
  };
  const email = unescapeFormula(field('email'));
  if (email === '') return 'missing email';
  if (!isValidAddress(email)) return `invalid email ${shown(email)}`;

  const cadenceText = field('cadence').toLowerCase();
  const cadence = cadenceText === '' ? undefined : CADENCES.find((c) => c === cadenceText);
  if (cadenceText !== '' && !cadence) return `unknown cadence ${shown(field('cadence'))} (weekly or monthly)`;

  const statusText = field('status').toLowerCase();
  const status = statusText === '' ? undefined : STATUSES.find((s) => s === statusText);
  if (statusText !== '' && !status) return `unknown status ${shown(field('status'))} (${STATUSES.join(', ')})`;

  const name = cleanName(unescapeFormula(field('name')));
  if ('problem' in name) return `name ${name.problem}`;

  return { line, email, name: name.name, cadence, status };
}

/** The status a row asks for: as written for pending and the suppressed ones; active only with --confirmed. */
export function requestedStatus(status: SubscriptionStatus | undefined, confirmed: boolean): SubscriptionStatus {
  if (status && status !== 'active') return status;
  return confirmed ? 'active' : 'pending';
}

export type SkipReason = 'unsubscribed' | 'bounced' | 'complained' | 'forgotten' | 'concurrent';

export type RowPlan =
  | { kind: 'insert'; status: SubscriptionStatus; cadence: Cadence }
  | { kind: 'update'; status: SubscriptionStatus; cadence: Cadence; from: SubscriptionStatus }
  | { kind: 'unchanged' }
  | { kind: 'skip'; reason: SkipReason };

/** What to do with one row given the subscription stored for it, if any (see import.ts). */
export function planRow(
  existing: { status: SubscriptionStatus; cadence: Cadence } | undefined,
  row: { wanted: SubscriptionStatus; cadence: Cadence | undefined },
): RowPlan {
  const { wanted } = row;
  if (!existing) return { kind: 'insert', status: wanted, cadence: row.cadence ?? 'weekly' };
  if (SUPPRESSED.has(existing.status)) {
    // Already receiving nothing: a file saying so again is no change, and the first reason stays.
    if (SUPPRESSED.has(wanted)) return { kind: 'unchanged' };
    return { kind: 'skip', reason: existing.status as SkipReason };
  }
  // Never demoted to pending; only ever moved to active (--confirmed) or to less mail.
  let status = existing.status;
  if (SUPPRESSED.has(wanted) || wanted === 'active') status = wanted;
  const cadence = row.cadence ?? existing.cadence;
  if (status === existing.status && cadence === existing.cadence) return { kind: 'unchanged' };
  return { kind: 'update', status, cadence, from: existing.status };
}

/**
 * The partition of an address: every address that PostgreSQL's lower() could make equal must
 * land in the same one, because duplicates are found by each partition's own session
 * (import_seen) and two partitions must never write the same subscriber (they would wait on
 * each other's unique-index entry, or deadlock). So the hash reads only what no case mapping
 * changes into or out of: ASCII characters, folded to lower case, without i and k (the Turkish
 * dotted capital I and the Kelvin sign lower to them in some locales). Everything else is left
 * out of the hash; grouping more addresses together than needed is harmless.
 */
export function partitionOf(email: string, partitions: number): number {
  let h = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < email.length; i++) {
    let c = email.charCodeAt(i);
    if (c >= 0x80) continue;
    if (c >= 65 && c <= 90) c += 32;
    if (c === 105 || c === 107) continue; // i, k
    h = Math.imul(h ^ c, 0x01000193);
  }
  return (h >>> 0) % partitions;
}
