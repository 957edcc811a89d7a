import type { IssueRow, List, Send } from '../db/schema';
import { encodeMailbox, feedbackId, listId } from '../mail/headers';
import { buildMimeTemplate, foldHtmlLines, type MimeTemplate } from '../mail/mime';
import { compilePersonalization } from '../mail/personalize';
import { renderIssue } from '../issues/render';
import { assetBaseUrl, issueContent } from '../issues/repository';
import type { CompileMjml } from '../issues/mjml';
import type { Templates } from '../issues/templates';

/**
 * An issue as one subscriber group receives it: the sections they did not opt out of, compiled
 * once and built into a MIME message once. Subscribers who excluded the same sections of this
 * issue share a variant; sections the issue does not have do not make a new one.
 */
export interface Variant {
  key: string;
  mime: MimeTemplate;
}

export function variantKey(send: Pick<Send, 'cadence'>, sectionIds: ReadonlySet<string>, excluded: readonly string[]): string {
  const relevant = excluded.filter((id) => sectionIds.has(id)).sort();
  return `${send.cadence}:${relevant.join(',')}`;
}

/**
 * Whether a reader who left out these sections would get none of the issue's sections: such an
 * email is empty (a masthead and a footer), so it is not sent at all. The preferences page does
 * not let a reader leave out every section of the list, but an issue may carry only some of the
 * list's sections, and a list's sections change.
 */
export function nothingLeftToRead(sectionIds: ReadonlySet<string>, excluded: readonly string[]): boolean {
  if (sectionIds.size === 0 || excluded.length === 0) return false;
  const out = new Set(excluded);
  for (const id of sectionIds) if (!out.has(id)) return false;
  return true;
}

export interface VariantSource {
  send: Pick<Send, 'id' | 'cadence'>;
  issue: IssueRow;
  list: List;
  publicUrl: string;
  templates: Templates;
  /** Where MJML runs; by default in this process. */
  compileMjml?: CompileMjml;
  /** A digest's covered weekly issues: slug → title, for its list of what it gathers. */
  coverTitles?: Readonly<Record<string, string>>;
  /** Where the issue's images are, when not the public URL (a test email of an unsent issue). */
  assetBaseUrl?: string;
  /** Feedback-ID's sender part (FEEDBACK_SENDER_ID); by default the public URL's host. */
  feedbackSenderId?: string;
}

/** Compiles one variant. Pure apart from MJML's own work; the caller caches it. */
export async function compileVariant(source: VariantSource, excluded: readonly string[], options: { subjectPrefix?: string } = {}): Promise<Variant> {
  const { send, issue, list, publicUrl } = source;
  const content = issueContent(issue);
  const sectionIds = new Set(content.sections.map((s) => s.id));
  const rendered = await renderIssue(
    content,
    {
      list: { slug: list.slug, name: list.name, language: list.language, contact: list.contact },
      publicUrl,
      assetBaseUrl: source.assetBaseUrl ?? assetBaseUrl(publicUrl, list.slug, issue.slug),
      cadence: send.cadence,
      excludeSections: excluded.filter((id) => sectionIds.has(id)),
      coverTitles: source.coverTitles,
    },
    source.templates,
    source.compileMjml,
  );
  const mime = buildMimeTemplate({
    from: encodeMailbox(list.from_address),
    replyTo: list.reply_to ? encodeMailbox(list.reply_to) : undefined,
    subject: (options.subjectPrefix ?? '') + rendered.subject,
    headers: {
      'List-Id': listId(list, publicUrl),
      'Feedback-ID': feedbackId(send.id, list.slug, source.feedbackSenderId ?? new URL(publicUrl).hostname),
    },
    html: compilePersonalization(foldHtmlLines(rendered.html)),
    text: compilePersonalization(rendered.text),
  });
  return { key: variantKey(send, sectionIds, excluded), mime };
}

/**
 * A worker's variants, per send and issue version, compiled on first use. Bounded: a worker
 * serves a few sends at a time, each with a handful of section choices.
 */
export class VariantCache {
  private readonly entries = new Map<string, Promise<Variant>>();
  /** Section ids per issue row, read once: `get` runs for every recipient. */
  private readonly sections = new WeakMap<IssueRow, ReadonlySet<string>>();
  constructor(private readonly max = 16) {}

  get(source: VariantSource, excluded: readonly string[]): Promise<Variant> {
    let sectionIds = this.sections.get(source.issue);
    if (!sectionIds) {
      sectionIds = new Set(issueContent(source.issue).sections.map((s) => s.id));
      this.sections.set(source.issue, sectionIds);
    }
    const key = `${source.send.id}@${source.issue.updated_at.getTime()}/${variantKey(source.send, sectionIds, excluded)}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = compileVariant(source, excluded);
      entry.catch(() => this.entries.delete(key)); // a failed compile is tried again next time
      this.entries.set(key, entry);
      if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    }
    return entry;
  }
}
