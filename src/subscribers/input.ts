import type { Cadence } from '../db/schema';
import { AppError } from '../errors';
import { cleanName, isValidAddress } from './address';

/**
 * What a reader typed into a form or sent as JSON, checked with the same rules as a CSV
 * import's rows (`address.ts`). Errors name the field, so a page can mark it.
 */
export type InputField = 'email' | 'name' | 'cadence' | 'sections';

function invalid(field: InputField, message: string): AppError {
  return new AppError('invalid_input', message, { field });
}

export function parseEmail(value: unknown): string {
  const email = typeof value === 'string' ? value.trim() : '';
  if (!isValidAddress(email)) {
    throw invalid('email', 'email: enter a valid email address, like name@example.com');
  }
  return email;
}

export function parseName(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid('name', 'name: must be text');
  const checked = cleanName(value);
  if ('problem' in checked) throw invalid('name', `name: ${checked.problem}`);
  return checked.name;
}

export function parseCadence(value: unknown): Cadence | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (value === 'weekly' || value === 'monthly') return value;
  throw invalid('cadence', 'cadence: must be "weekly" or "monthly"');
}
