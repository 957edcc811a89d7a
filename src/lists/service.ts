import { IANAZone } from 'luxon';
import addressparser from 'nodemailer/lib/addressparser';
import isEmail from 'validator/lib/isEmail';
import type { Db } from '../db/database';
import type { List, ListSection, NewList, SubscriptionStatus } from '../db/schema';
import { AppError } from '../errors';
import { countByStatus, createList, getListBySlug, updateList } from './repository';
import { formatMonthlySlot, formatWeeklySlot, parseMonthlySlot, parseWeeklySlot } from './slots';

/**
 * What an editor gives to create a list, from the CLI flags or the admin API's JSON body.
 * Everything arrives untyped from the API, so `validateListInput` checks types as well.
 */
export interface ListInput {
  slug: string;
  name: string;
  /** "Name <editor@example.com>" or a bare address. */
  from: string;
  timezone?: string;
  /** "mon 09:00" */
  weekly?: string | null;
  /** "1 09:00" */
  monthly?: string | null;
  language?: string;
  replyTo?: string | null;
  /** The postal / contact line every email's footer shows: required (bulk mail must say who sends it and where). */
  contact: string;
  /** `{ id, title }` or "id:title" as the CLI's `--section` takes it. */
  sections?: Array<ListSection | string>;
  /** Send a welcome email once a subscription is confirmed. */
  welcomeEmail?: boolean;
  /** Title of the generated monthly digest, with {list}, {month} and {count}; unset: the default. */
  digestTitle?: string | null;
  /** Its preheader, with the same placeholders. */
  digestPreheader?: string | null;
  /** What the list is, for visitors: a sentence or two, Markdown subset as in issues. */
  description?: string | null;
  /** One line: what a weekly subscriber gets ("Every Monday: the week's five best papers"). */
  weeklyDescription?: string | null;
  /** One line: what a monthly subscriber gets. */
  monthlyDescription?: string | null;
}

export interface ListProblem {
  field: string;
  message: string;
}

/** Slugs name lists in URLs and commands: the same shape as an issue's section ids. */
export const SLUG_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const SLUG_RULE = '1 to 64 of a-z, 0-9 and "-", not starting or ending with "-"';

type NewListValues = Omit<NewList, 'sections'> & { sections: ListSection[] };

function parseMailbox(text: string): { name: string; address: string } | undefined {
  const parsed = addressparser(text, { flatten: true });
  if (parsed.length !== 1) return undefined;
  const [mailbox] = parsed;
  if (!mailbox?.address || !isEmail(mailbox.address)) return undefined;
  return { name: mailbox.name, address: mailbox.address };
}

function oneLine(value: string): boolean {
  return !/[\r\n]/.test(value);
}

/**
 * Checks a list as the editor gave it and returns the values to store (slots and language in
 * canonical form). Every problem is reported at once, so that an editor fixes them in one go:
 * AppError('invalid_input') with the problems as details.
 */
export function validateListInput(input: unknown): NewListValues {
  const problems: ListProblem[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });
  const raw = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;

  const text = (field: string, value: unknown, required: boolean): string | undefined => {
    if (value === undefined || value === null || value === '') {
      if (required) add(field, 'is required');
      return undefined;
    }
    if (typeof value !== 'string') {
      add(field, 'must be a string');
      return undefined;
    }
    return value.trim();
  };

  const slug = text('slug', raw.slug, true);
  if (slug !== undefined && !SLUG_PATTERN.test(slug)) add('slug', `"${slug}" is not a valid slug (${SLUG_RULE})`);

  const name = text('name', raw.name, true);
  if (name !== undefined && (name === '' || !oneLine(name) || name.length > 200)) add('name', 'must be one line of 1 to 200 characters');

  const from = text('from', raw.from, true);
  if (from !== undefined && (!oneLine(from) || !parseMailbox(from))) {
    add('from', `"${from}" is not one address like "Broadsheet <editor@example.com>"`);
  }

  const replyTo = text('replyTo', raw.replyTo, false);
  if (replyTo !== undefined && (!oneLine(replyTo) || !parseMailbox(replyTo))) add('replyTo', `"${replyTo}" is not an email address`);

  const timezone = text('timezone', raw.timezone, false) ?? 'UTC';
  if (!IANAZone.isValidZone(timezone)) add('timezone', `"${timezone}" is not an IANA time zone, like "Europe/Paris" or "UTC"`);

  let language = text('language', raw.language, false) ?? 'en';
  try {
    const [canonical] = Intl.getCanonicalLocales(language);
    if (!canonical) throw new RangeError('empty');
    language = canonical;
  } catch {
    add('language', `"${language}" is not a language tag, like "en", "en-GB" or "zh-CN"`);
  }

  let weeklySlot: string | null = null;
  const weekly = text('weekly', raw.weekly, false);
  if (weekly !== undefined) {
    const parsed = parseWeeklySlot(weekly);
    if (parsed.ok) weeklySlot = formatWeeklySlot(parsed.slot);
    else add('weekly', parsed.message);
  }

  let monthlySlot: string | null = null;
  const monthly = text('monthly', raw.monthly, false);
  if (monthly !== undefined) {
    const parsed = parseMonthlySlot(monthly);
    if (parsed.ok) monthlySlot = formatMonthlySlot(parsed.slot);
    else add('monthly', parsed.message);
  }

  // Bulk mail must say who sends it and where (CAN-SPAM, the German Impressum, …): every
  // email's footer shows this line, so a list cannot go without one.
  const contact = text('contact', raw.contact, false);
  if (contact === undefined || contact === '') {
    // (a non-string has been reported by text() already)
    if (typeof raw.contact === 'string' || raw.contact === undefined || raw.contact === null) {
      add('contact', "is required: who sends the newsletter and where (a postal address), shown in every email's footer");
    }
  } else if (!oneLine(contact) || contact.length > 500) {
    add('contact', 'must be one line of at most 500 characters');
  }

  const digestTitle = text('digestTitle', raw.digestTitle, false) ?? null;
  if (digestTitle !== null && (!oneLine(digestTitle) || digestTitle.length > 200)) add('digestTitle', 'must be one line of at most 200 characters');
  const digestPreheader = text('digestPreheader', raw.digestPreheader, false) ?? null;
  if (digestPreheader !== null && (!oneLine(digestPreheader) || digestPreheader.length > 150)) add('digestPreheader', 'must be one line of at most 150 characters');

  // Shown on the home and subscribe pages, and as the feed's subtitle. Markdown is rendered
  // with the issues' subset (raw HTML stays text, only http(s)/mailto links), so the length is
  // the only extra rule: a sentence or two, not an article.
  const description = text('description', raw.description, false) ?? null;
  if (description !== null && description.length > 1000) add('description', 'must be at most 1,000 characters (a sentence or two)');
  const cadenceLine = (field: string, value: unknown): string | null => {
    const line = text(field, value, false) ?? null;
    if (line !== null && (!oneLine(line) || line.length > 200)) add(field, 'must be one line of at most 200 characters');
    return line;
  };
  const weeklyDescription = cadenceLine('weeklyDescription', raw.weeklyDescription);
  const monthlyDescription = cadenceLine('monthlyDescription', raw.monthlyDescription);

  let welcomeEmail = false;
  if (raw.welcomeEmail !== undefined && raw.welcomeEmail !== null) {
    if (typeof raw.welcomeEmail === 'boolean') welcomeEmail = raw.welcomeEmail;
    else add('welcomeEmail', 'must be true or false');
  }

  const sections: ListSection[] = [];
  if (raw.sections !== undefined && raw.sections !== null) {
    if (!Array.isArray(raw.sections)) {
      add('sections', 'must be an array of { id, title }');
    } else {
      const seen = new Set<string>();
      raw.sections.forEach((entry: unknown, i) => {
        const field = `sections[${i}]`;
        let id: unknown;
        let title: unknown;
        if (typeof entry === 'string') {
          const colon = entry.indexOf(':');
          if (colon < 0) return add(field, `"${entry}" is not id:title`);
          id = entry.slice(0, colon).trim();
          title = entry.slice(colon + 1).trim();
        } else if (typeof entry === 'object' && entry !== null) {
          ({ id, title } = entry as Record<string, unknown>);
        }
        if (typeof id !== 'string' || !SLUG_PATTERN.test(id)) return add(field, `section id ${JSON.stringify(id ?? null)} is not a valid id (${SLUG_RULE})`);
        if (typeof title !== 'string' || title.trim() === '' || !oneLine(title)) return add(field, `section "${id}" needs a one-line title`);
        if (seen.has(id)) return add(field, `section id "${id}" is given twice`);
        seen.add(id);
        sections.push({ id, title: title.trim() });
      });
    }
  }

  if (problems.length > 0) {
    const summary = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
    throw new AppError('invalid_input', `invalid list: ${summary}`, problems);
  }
  return {
    slug: slug!,
    name: name!,
    from_address: from!,
    reply_to: replyTo ?? null,
    language,
    timezone,
    weekly_slot: weeklySlot,
    monthly_slot: monthlySlot,
    contact: contact!,
    sections,
    welcome_email: welcomeEmail,
    digest_title: digestTitle,
    digest_preheader: digestPreheader,
    description,
    weekly_description: weeklyDescription,
    monthly_description: monthlyDescription,
  };
}

/** Validates and stores a new list; a taken slug is a `conflict`. */
export async function createListFromInput(db: Db, input: unknown): Promise<List> {
  return createList(db, validateListInput(input));
}

/** What `lists update` and PATCH /lists/:slug may change: everything `create` takes but the slug. */
const UPDATABLE = new Set([
  'name',
  'from',
  'timezone',
  'weekly',
  'monthly',
  'language',
  'replyTo',
  'contact',
  'sections',
  'welcomeEmail',
  'description',
  'weeklyDescription',
  'monthlyDescription',
]);

/**
 * Changes some settings of a list: the given fields over the stored ones, checked by the same
 * rules as a new list (so a list cannot be updated into one `create` would refuse). A field
 * left out keeps its value; `null` clears an optional one (weekly, monthly, replyTo, description…).
 */
export async function updateListFromInput(db: Db, slug: string, changes: unknown): Promise<List> {
  if (typeof changes !== 'object' || changes === null || Array.isArray(changes)) {
    throw new AppError('invalid_input', 'send the changes as a JSON object, like { "contact": "…" }');
  }
  const given = Object.entries(changes).filter(([, value]) => value !== undefined);
  const unknown = given.filter(([field]) => !UPDATABLE.has(field)).map(([field]) => field);
  if (unknown.length > 0) {
    const problems = unknown.map((field) => ({
      field,
      message: field === 'slug' ? 'cannot be changed (sent emails link to it)' : 'is not a setting of a list',
    }));
    throw new AppError('invalid_input', `invalid list: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`, problems);
  }
  const current = await getListBySlug(db, slug);
  const { slug: _unchanged, ...values } = validateListInput({ ...listToJson(current), ...Object.fromEntries(given) });
  return updateList(db, slug, values);
}

export type StatusCounts = Record<SubscriptionStatus, number>;

/** A list and how many subscriptions it has in each status (`lists show`, GET /lists/:slug). */
export async function getListWithCounts(db: Db, slug: string): Promise<{ list: List; counts: StatusCounts }> {
  const list = await getListBySlug(db, slug);
  return { list, counts: await countByStatus(db, list.id) };
}

/** The public shape of a list in the admin API: camelCase, no database ids. */
export interface ListJson {
  slug: string;
  name: string;
  from: string;
  replyTo: string | null;
  language: string;
  timezone: string;
  weekly: string | null;
  monthly: string | null;
  contact: string;
  sections: ListSection[];
  welcomeEmail: boolean;
  digestTitle: string | null;
  digestPreheader: string | null;
  description: string | null;
  weeklyDescription: string | null;
  monthlyDescription: string | null;
  createdAt: string;
}

export function listToJson(list: List): ListJson {
  return {
    slug: list.slug,
    name: list.name,
    from: list.from_address,
    replyTo: list.reply_to,
    language: list.language,
    timezone: list.timezone,
    weekly: list.weekly_slot,
    monthly: list.monthly_slot,
    contact: list.contact,
    sections: list.sections,
    welcomeEmail: list.welcome_email,
    digestTitle: list.digest_title,
    digestPreheader: list.digest_preheader,
    description: list.description,
    weeklyDescription: list.weekly_description,
    monthlyDescription: list.monthly_description,
    createdAt: list.created_at.toISOString(),
  };
}
