import type { Highlight, Issue, Item, Section } from '../issues/types';
import { pickLanguage, t } from '../i18n';
import { fill } from '../placeholders';
import { monthKey } from './next-slot';

/**
 * The monthly digest, built from the weekly issues sent in one month. Pure: the weeklies and
 * what the list says come in, an issue (format 1, kind "digest") comes out; the scheduler
 * stores and sends it, `broadsheet digest draft` prints it for an editor to curate.
 *
 * - Sections are merged by id, in the order they first appear in the month (oldest weekly
 *   first); a section's title and intro are those of the latest weekly that has it.
 * - Items are de-duplicated by URL: a story that ran twice (updated, moved) appears once, in
 *   the place it first ran (its section and position then), with the words of the latest
 *   weekly that has it; its image is the latest one it had, so a later mention without an
 *   image does not take the picture away.
 * - Highlights are merged by title; a point said twice is kept once.
 * - `covers` names the weeklies; the email shows them with their titles and links to their
 *   archive pages (issues/view.ts), so the digest shows what it summarises.
 */

export interface DigestWeekly {
  slug: string;
  /** YYYY-MM-DD */
  date: string;
  content: Issue;
}

export interface DigestList {
  slug: string;
  name: string;
  language: string;
  digest_title: string | null;
  digest_preheader: string | null;
}

export interface DigestOptions {
  list: DigestList;
  year: number;
  month: number;
  /**
   * Where a weekly's relative image lives as seen from the digest: each weekly's assets sit in
   * its own folder, so a path relative to one weekly means nothing relative to the digest.
   */
  imageSrc(weeklySlug: string, src: string): string;
}

export function digestSlug(year: number, month: number): string {
  return `digest-${monthKey(year, month)}`;
}

const TITLE_MAX = 200;
const PREHEADER_MAX = 150;

function clip(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}

/** The same story under two spellings of its URL: no fragment, no trailing slash, host in lower case. */
export function storyKey(url: string): string {
  try {
    const u = new URL(url);
    u.hash = '';
    const path = u.pathname.length > 1 ? u.pathname.replace(/\/+$/, '') : u.pathname;
    return `${u.protocol}//${u.host.toLowerCase()}${path}${u.search}`;
  } catch {
    return url.trim();
  }
}

function isRelative(src: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:/i.test(src);
}

function lastDayOfMonth(year: number, month: number): string {
  const day = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return `${monthKey(year, month)}-${String(day).padStart(2, '0')}`;
}

/** "February 2021", "2021年2月": the month as readers of the language write it. */
export function monthName(year: number, month: number, language: string): string {
  const date = new Date(Date.UTC(year, month - 1, 1));
  try {
    return new Intl.DateTimeFormat(language, { year: 'numeric', month: 'long', timeZone: 'UTC' }).format(date);
  } catch {
    return new Intl.DateTimeFormat('en', { year: 'numeric', month: 'long', timeZone: 'UTC' }).format(date);
  }
}

/** The digest of a month, or undefined when no weekly was sent that month (then nothing is sent). */
export function buildDigest(weeklies: readonly DigestWeekly[], opts: DigestOptions): Issue | undefined {
  const { list, year, month } = opts;
  const prefix = `${monthKey(year, month)}-`;
  const covered = weeklies
    .filter((w) => w.date.startsWith(prefix) && (w.content.kind ?? 'weekly') === 'weekly')
    .slice()
    .sort((a, b) => a.date.localeCompare(b.date) || a.slug.localeCompare(b.slug));
  if (covered.length === 0) return undefined;

  // Languages: the weeklies' own if they agree, else the list's.
  const languages = new Set(covered.map((w) => w.content.language ?? list.language));
  const language = languages.size === 1 ? [...languages][0]! : list.language;

  // Pass 1, oldest first: section order by first appearance; the last writer of each section's
  // title wins. A story keeps the place it first ran (readers of the weeklies met it there) and
  // takes the latest words said about it, and the latest image it had.
  const sectionOrder: string[] = [];
  const sectionHead = new Map<string, Pick<Section, 'title' | 'intro'>>();
  const stories = new Map<string, { sectionId: string; item: Item; order: number }>();
  let order = 0;
  for (const weekly of covered) {
    for (const section of weekly.content.sections) {
      if (!sectionHead.has(section.id)) sectionOrder.push(section.id);
      sectionHead.set(section.id, { title: section.title, intro: section.intro });
      for (const item of section.items) {
        const key = storyKey(item.url);
        const now = withImage(item, weekly.slug, opts);
        const first = stories.get(key);
        if (!first) {
          stories.set(key, { sectionId: section.id, item: now, order: order++ });
          continue;
        }
        const image = now.image ?? first.item.image;
        first.item = { ...now, ...(image ? { image } : {}) };
      }
    }
  }
  const winners = [...stories.values()].sort((a, b) => a.order - b.order);
  const sections: Section[] = [];
  for (const id of sectionOrder) {
    const items = winners.filter((w) => w.sectionId === id).map((w) => w.item);
    if (items.length === 0) continue; // every story of it had run before, in another section
    const head = sectionHead.get(id)!;
    sections.push({ id, title: head.title, ...(head.intro !== undefined ? { intro: head.intro } : {}), items });
  }

  const highlights: Highlight[] = [];
  for (const weekly of covered) {
    for (const h of weekly.content.highlights ?? []) {
      let merged = highlights.find((m) => m.title === h.title);
      if (!merged) highlights.push((merged = { title: h.title, points: [] }));
      for (const point of h.points) if (!merged.points.includes(point)) merged.points.push(point);
    }
  }

  const lang = pickLanguage(language);
  const vars = { list: list.name, month: monthName(year, month, language), count: covered.length };
  // The editor's own {list}, {month} and {count}: a name they misspell stays as written.
  const sentence = { syntax: 'sentence', missing: 'keep' } as const;
  const title = clip(fill(list.digest_title ?? t(lang, 'digest.title'), vars, sentence), TITLE_MAX);
  const preheader = clip(fill(list.digest_preheader ?? t(lang, 'digest.preheader'), vars, sentence), PREHEADER_MAX);

  return {
    format: 1,
    list: list.slug,
    kind: 'digest',
    slug: digestSlug(year, month),
    title,
    ...(preheader ? { preheader } : {}),
    date: lastDayOfMonth(year, month),
    ...(languages.size === 1 && covered[0]!.content.language ? { language } : {}),
    ...(highlights.length > 0 ? { highlights } : {}),
    sections,
    covers: covered.map((w) => w.slug),
  };
}

function withImage(item: Item, weeklySlug: string, opts: DigestOptions): Item {
  if (!item.image || !isRelative(item.image.src)) return item;
  return { ...item, image: { ...item.image, src: opts.imageSrc(weeklySlug, item.image.src) } };
}
