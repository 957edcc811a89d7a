import type { Cadence, List } from '../db/schema';
import type { CompileMjml } from './mjml';
import { compilePersonalization } from '../mail/personalize';
import { renderIssue } from './render';
import type { Templates } from './templates';
import type { Issue } from './types';

/**
 * An issue as one reader gets it: their cadence (named in the footer) and the sections they
 * opted out of, rendered by the same `renderIssue` as the sender's variants. The personal
 * links are examples: a preview must not mint a working unsubscribe link for a real reader.
 */

export interface PreviewReader {
  cadence: Cadence;
  excludedSections: readonly string[];
  name?: string;
}

export interface ReaderPreview {
  subject: string;
  preheader: string;
  html: string;
  text: string;
  /** Sections of the issue this reader does not get. */
  omitted: string[];
}

export async function previewAsReader(input: {
  issue: Issue;
  list: Pick<List, 'slug' | 'name' | 'language' | 'contact'>;
  publicUrl: string;
  assetBaseUrl: string;
  reader: PreviewReader;
  coverTitles?: Readonly<Record<string, string>>;
  templates: Templates;
  compileMjml?: CompileMjml;
}): Promise<ReaderPreview> {
  const { issue, list, publicUrl, reader } = input;
  const ids = new Set(issue.sections.map((s) => s.id));
  const excluded = reader.excludedSections.filter((id) => ids.has(id));
  const rendered = await renderIssue(
    issue,
    {
      list: { slug: list.slug, name: list.name, language: list.language, contact: list.contact },
      publicUrl,
      assetBaseUrl: input.assetBaseUrl,
      cadence: issue.kind === 'digest' ? 'monthly' : reader.cadence,
      excludeSections: excluded,
      coverTitles: input.coverTitles,
    },
    input.templates,
    input.compileMjml,
  );
  const example = {
    name: reader.name ?? '',
    preferences_url: `${publicUrl}/preferences/example`,
    unsubscribe_url: `${publicUrl}/unsubscribe/example`,
    web_url: `${publicUrl}/lists/${encodeURIComponent(list.slug)}/archive/${encodeURIComponent(issue.slug)}`,
  };
  return {
    subject: rendered.subject,
    preheader: rendered.preheader,
    html: compilePersonalization(rendered.html).fill(example, 'html'),
    text: compilePersonalization(rendered.text).fill(example, 'text'),
    omitted: excluded,
  };
}
