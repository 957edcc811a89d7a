import { IANAZone } from 'luxon';
import addressparser from 'nodemailer/lib/addressparser';
import isEmail from 'validator/lib/isEmail';
import type { List, ListSection, NewList } from '../db/schema';
import { formatMonthlySlot, formatWeeklySlot, parseMonthlySlot, parseWeeklySlot } from './slots';

/**
 * The settings of a list, once. Everything else that names them is derived from this table:
 * the input and JSON types, validation (`validateListInput`), what an update may change, the
 * admin API's JSON (`listToJson`) and the CLI's `lists create` / `lists update` options. A new
 * setting is one row here (and its column); before this table the five hand-written copies
 * drifted (`lists update --digest-title` was offered, then refused).
 *
 * The order of the rows is the order of the JSON keys, of the CLI options and of the problems
 * reported for a bad input.
 */

/** Reports a problem with the field being read (or with `field`, like `sections[2]`). */
export type Problem = (message: string, field?: string) => void;

/** How an editor gives the value: a line of text, a yes/no switch, or the list of sections. */
export type FieldInput = 'text' | 'switch' | 'sections';

export interface ListField<T, C extends keyof NewList = keyof NewList> {
  /** The column of `lists` that stores it. */
  column: C;
  /** A short name for a form's label. */
  label: string;
  /** One line on what it is: the CLI's option description and a form's hint. */
  help: string;
  input: FieldInput;
  /** `create` refuses a list without it. */
  required?: true;
  /** Set once at create; never changed (the slug: sent emails link to it). */
  fixed?: true;
  /** Optional and clearable: `null` in the API, `--no-…` on the CLI's update. */
  clearable?: string;
  /** The value when none is given, as `create` shows it. */
  fallback?: string;
  /** An example value an editor could type, that validation accepts. */
  example: string;
  /** The CLI's placeholder for the option's value, like `<address>`; `--section` is singular and repeatable. */
  cli?: { flag?: string; value?: string; repeatable?: true };
  /** The stored value from what was given (untyped: the API's JSON), or problems. */
  read(raw: unknown, problem: Problem): T;
}

/** Slugs name lists in URLs and commands: the same shape as an issue's section ids. */
export const SLUG_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const SLUG_RULE = '1 to 64 of a-z, 0-9 and "-", not starting or ending with "-"';

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

/** A text setting as given, trimmed; undefined when absent (undefined, null or ''). A non-string is a problem. */
function given(raw: unknown, problem: Problem): string | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw !== 'string') {
    problem('must be a string');
    return undefined;
  }
  return raw.trim();
}

function required(raw: unknown, problem: Problem): string | undefined {
  const value = given(raw, problem);
  if (value === undefined && (raw === undefined || raw === null || raw === '')) problem('is required');
  return value;
}

/** An optional line of text of at most `max` characters; null when not given. */
function optionalLine(max: number) {
  return (raw: unknown, problem: Problem): string | null => {
    const value = given(raw, problem) ?? null;
    if (value !== null && (!oneLine(value) || value.length > max)) problem(`must be one line of at most ${max} characters`);
    return value;
  };
}

function field<T, C extends keyof NewList>(spec: ListField<T, C>): ListField<T, C> {
  return spec;
}

export const LIST_FIELDS = {
  slug: field({
    column: 'slug',
    label: 'Slug',
    help: 'names the list in addresses and commands, like "ml-news"; set once',
    input: 'text',
    required: true,
    fixed: true,
    example: 'ml-news',
    read(raw, problem) {
      const slug = required(raw, problem);
      if (slug !== undefined && !SLUG_PATTERN.test(slug)) problem(`"${slug}" is not a valid slug (${SLUG_RULE})`);
      return slug ?? '';
    },
  }),
  name: field({
    column: 'name',
    label: 'Name',
    help: "the newsletter's name, as readers see it",
    input: 'text',
    required: true,
    example: 'ML News',
    cli: { value: '<name>' },
    read(raw, problem) {
      const name = required(raw, problem);
      if (name !== undefined && (name === '' || !oneLine(name) || name.length > 200)) problem('must be one line of 1 to 200 characters');
      return name ?? '';
    },
  }),
  from: field({
    column: 'from_address',
    label: 'Sender',
    help: 'sender, like "ML News <news@example.com>"',
    input: 'text',
    required: true,
    example: 'ML News <news@example.com>',
    cli: { value: '<address>' },
    read(raw, problem) {
      const from = required(raw, problem);
      if (from !== undefined && (!oneLine(from) || !parseMailbox(from))) problem(`"${from}" is not one address like "Broadsheet <editor@example.com>"`);
      return from ?? '';
    },
  }),
  replyTo: field({
    column: 'reply_to',
    label: 'Reply to',
    help: 'where replies go',
    input: 'text',
    clearable: 'replies go to the sender',
    example: 'editor@example.com',
    cli: { value: '<address>' },
    read(raw, problem) {
      const replyTo = given(raw, problem) ?? null;
      if (replyTo !== null && (!oneLine(replyTo) || !parseMailbox(replyTo))) problem(`"${replyTo}" is not an email address`);
      return replyTo;
    },
  }),
  language: field({
    column: 'language',
    label: 'Language',
    help: 'language of the emails, like "en" or "zh-CN"',
    input: 'text',
    fallback: 'en',
    example: 'zh-CN',
    cli: { value: '<tag>' },
    read(raw, problem) {
      const language = given(raw, problem) ?? 'en';
      try {
        const [canonical] = Intl.getCanonicalLocales(language);
        if (!canonical) throw new RangeError('empty');
        return canonical;
      } catch {
        problem(`"${language}" is not a language tag, like "en", "en-GB" or "zh-CN"`);
        return language;
      }
    },
  }),
  timezone: field({
    column: 'timezone',
    label: 'Time zone',
    help: 'IANA time zone the slots are read in',
    input: 'text',
    fallback: 'UTC',
    example: 'Europe/Paris',
    cli: { value: '<tz>' },
    read(raw, problem) {
      const timezone = given(raw, problem) ?? 'UTC';
      if (!IANAZone.isValidZone(timezone)) problem(`"${timezone}" is not an IANA time zone, like "Europe/Paris" or "UTC"`);
      return timezone;
    },
  }),
  weekly: field({
    column: 'weekly_slot',
    label: 'Weekly slot',
    help: 'weekly send slot, like "mon 09:00"',
    input: 'text',
    clearable: 'no weekly slot',
    example: 'mon 09:00',
    cli: { value: '<slot>' },
    read(raw, problem) {
      const weekly = given(raw, problem);
      if (weekly === undefined) return null;
      const parsed = parseWeeklySlot(weekly);
      if (parsed.ok) return formatWeeklySlot(parsed.slot);
      problem(parsed.message);
      return null;
    },
  }),
  monthly: field({
    column: 'monthly_slot',
    label: 'Monthly slot',
    help: 'monthly digest slot, like "1 09:00" (day 1 to 31; past a month\'s end: its last day)',
    input: 'text',
    clearable: 'no monthly slot',
    example: '1 09:00',
    cli: { value: '<slot>' },
    read(raw, problem) {
      const monthly = given(raw, problem);
      if (monthly === undefined) return null;
      const parsed = parseMonthlySlot(monthly);
      if (parsed.ok) return formatMonthlySlot(parsed.slot);
      problem(parsed.message);
      return null;
    },
  }),
  contact: field({
    column: 'contact',
    label: 'Contact line',
    help: 'who sends it and where (a postal address): the footer of every email shows it',
    input: 'text',
    required: true,
    example: 'Example Press · 1 Main Street · Berlin',
    cli: { value: '<line>' },
    read(raw, problem) {
      // Bulk mail must say who sends it and where (CAN-SPAM, the German Impressum, …): every
      // email's footer shows this line, so a list cannot go without one.
      const contact = given(raw, problem);
      if (contact === undefined || contact === '') {
        // (a non-string has been reported by given() already)
        if (typeof raw === 'string' || raw === undefined || raw === null) {
          problem("is required: who sends the newsletter and where (a postal address), shown in every email's footer");
        }
      } else if (!oneLine(contact) || contact.length > 500) {
        problem('must be one line of at most 500 characters');
      }
      return contact ?? '';
    },
  }),
  sections: field({
    column: 'sections',
    label: 'Sections',
    help: 'a section readers may opt out of, as id:title (repeatable; on update: replaces all sections)',
    input: 'sections',
    example: 'papers:Papers',
    cli: { flag: 'section', value: '<id:title>', repeatable: true },
    read(raw, problem): ListSection[] {
      const sections: ListSection[] = [];
      if (raw === undefined || raw === null) return sections;
      if (!Array.isArray(raw)) {
        problem('must be an array of { id, title }');
        return sections;
      }
      const seen = new Set<string>();
      raw.forEach((entry: unknown, i) => {
        const at = `sections[${i}]`;
        let id: unknown;
        let title: unknown;
        if (typeof entry === 'string') {
          const colon = entry.indexOf(':');
          if (colon < 0) return problem(`"${entry}" is not id:title`, at);
          id = entry.slice(0, colon).trim();
          title = entry.slice(colon + 1).trim();
        } else if (typeof entry === 'object' && entry !== null) {
          ({ id, title } = entry as Record<string, unknown>);
        }
        if (typeof id !== 'string' || !SLUG_PATTERN.test(id)) return problem(`section id ${JSON.stringify(id ?? null)} is not a valid id (${SLUG_RULE})`, at);
        if (typeof title !== 'string' || title.trim() === '' || !oneLine(title)) return problem(`section "${id}" needs a one-line title`, at);
        if (seen.has(id)) return problem(`section id "${id}" is given twice`, at);
        seen.add(id);
        sections.push({ id, title: title.trim() });
      });
      return sections;
    },
  }),
  welcomeEmail: field({
    column: 'welcome_email',
    label: 'Welcome email',
    help: 'send a welcome email once a subscription is confirmed',
    input: 'switch',
    clearable: 'no welcome email',
    example: 'true',
    read(raw, problem) {
      if (raw === undefined || raw === null) return false;
      if (typeof raw === 'boolean') return raw;
      problem('must be true or false');
      return false;
    },
  }),
  digestTitle: field({
    column: 'digest_title',
    label: 'Digest title',
    help: 'title of the generated monthly digest; {list}, {month}, {count} are filled in',
    input: 'text',
    clearable: 'the default digest title',
    example: '{list}: the {month} digest',
    cli: { value: '<template>' },
    read: optionalLine(200),
  }),
  digestPreheader: field({
    column: 'digest_preheader',
    label: 'Digest preheader',
    help: 'preheader of the generated monthly digest, same placeholders',
    input: 'text',
    clearable: 'the default digest preheader',
    example: '{count} issues of {list} in {month}',
    cli: { value: '<template>' },
    read: optionalLine(150),
  }),
  description: field({
    column: 'description',
    label: 'Description',
    help: 'what the newsletter is, for visitors of the home and subscribe pages (Markdown: *em*, **strong**, [links](https://…))',
    input: 'text',
    clearable: 'no description',
    example: 'The month in **machine learning**: papers, tools and talks.',
    cli: { value: '<text>' },
    read(raw, problem) {
      // Shown on the home and subscribe pages, and as the feed's subtitle. Markdown is rendered
      // with the issues' subset (raw HTML stays text, only http(s)/mailto links), so the length is
      // the only extra rule: a sentence or two, not an article.
      const description = given(raw, problem) ?? null;
      if (description !== null && description.length > 1000) problem('must be at most 1,000 characters (a sentence or two)');
      return description;
    },
  }),
  weeklyDescription: field({
    column: 'weekly_description',
    label: 'Weekly: what you get',
    help: 'what a weekly subscriber gets, in one line',
    input: 'text',
    clearable: 'the default wording for the weekly cadence',
    example: "Every Monday: the week's five best papers",
    cli: { value: '<line>' },
    read: optionalLine(200),
  }),
  monthlyDescription: field({
    column: 'monthly_description',
    label: 'Monthly: what you get',
    help: 'what a monthly subscriber gets, in one line',
    input: 'text',
    clearable: 'the default wording for the monthly cadence',
    example: 'Once a month: the digest of the month',
    cli: { value: '<line>' },
    read: optionalLine(200),
  }),
};

export type ListFieldName = keyof typeof LIST_FIELDS;
type ValueOf<K extends ListFieldName> = (typeof LIST_FIELDS)[K] extends ListField<infer T, keyof NewList> ? T : never;

/** Every column of `lists` an editor sets has its row above: a new column without one fails to type-check here. */
type Unlisted = Exclude<keyof NewList, (typeof LIST_FIELDS)[ListFieldName]['column'] | 'id' | 'created_at'>;
const everyColumnListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyColumnListed;

/** The fields in table order, with their names. */
export const LIST_FIELD_ENTRIES = Object.entries(LIST_FIELDS) as Array<[ListFieldName, ListField<unknown>]>;

/** What `lists update` and PATCH /lists/:slug may change: every field but the slug. */
export const UPDATABLE_FIELDS: ReadonlySet<string> = new Set(LIST_FIELD_ENTRIES.filter(([, f]) => !f.fixed).map(([name]) => name));

/** The public shape of a list in the admin API: camelCase, no database ids. */
export type ListJson = { [K in ListFieldName]: ValueOf<K> } & { createdAt: string };

/** The values to store, as validateListInput returns them. */
export type ListValues = { [K in ListFieldName as (typeof LIST_FIELDS)[K]['column']]: ValueOf<K> };

export function listToJson(list: List): ListJson {
  const json: Record<string, unknown> = {};
  for (const [name, f] of LIST_FIELD_ENTRIES) json[name] = list[f.column as keyof List];
  json.createdAt = list.created_at.toISOString();
  return json as ListJson;
}

type InputOf<T> = T extends ListSection[] ? Array<ListSection | string> | null : T extends boolean ? boolean | null : string | null;

/**
 * What an editor gives to create a list (the CLI's options or the admin API's JSON body), in
 * the form they type it: sections as `{ id, title }` or "id:title". Every field is optional
 * here because the API's input is untyped anyway: `validateListInput` says what is missing.
 */
export type ListInput = { [K in ListFieldName]?: InputOf<ValueOf<K>> };
