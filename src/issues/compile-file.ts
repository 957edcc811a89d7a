import type { Issue, IssueProblem } from './types';
import { validateIssueFile } from './validate';
import { renderIssue, type RenderContext, type RenderedIssue } from './render';
import { loadTemplates } from './templates';
import { compilePersonalization } from '../mail/personalize';

export type CompiledFile =
  | {
      ok: true;
      issue: Issue;
      baseDir: string;
      rendered: RenderedIssue;
      html: string;
      text: string;
      /** Why the list's name and contact line are placeholders; undefined when they come from the list record. */
      listFallback?: string;
    }
  | { ok: false; problems: IssueProblem[] };

/** Finds the list record (name, contact line, language) of an issue's `list` slug, or says why not. */
export type ListSource = (slug: string) => Promise<{ list: RenderContext['list'] } | { missing: string }>;

/**
 * validate + render for the editor's commands (`render`, `preview`): the list's name and contact
 * line come from `listSource` (the database, when the command reaches it); without it they are
 * visible placeholders, never the slug, and `listFallback` says why. The per-subscriber links
 * are examples.
 */
export async function compileIssueFile(
  file: string,
  options: { publicUrl: string; assetBaseUrl?: string; cadence?: RenderContext['cadence']; listSource?: ListSource },
): Promise<CompiledFile> {
  const checked = await validateIssueFile(file);
  if (!checked.ok) return checked;
  const { issue } = checked;
  const found = options.listSource ? await options.listSource(issue.list) : { missing: 'no list record was looked up' };
  const ctx: RenderContext = {
    list: 'list' in found ? found.list : placeholderList(issue),
    publicUrl: options.publicUrl,
    assetBaseUrl: options.assetBaseUrl ?? `${options.publicUrl}/assets/${issue.list}/${issue.slug}`,
    cadence: options.cadence ?? 'weekly',
  };
  const rendered = await renderIssue(issue, ctx, loadTemplates());
  const example = {
    name: '',
    preferences_url: `${options.publicUrl}/preferences/example`,
    unsubscribe_url: `${options.publicUrl}/unsubscribe/example`,
    web_url: `${options.publicUrl}/lists/${issue.list}/archive/${issue.slug}`,
  };
  return {
    ok: true,
    issue,
    baseDir: checked.baseDir,
    rendered,
    html: compilePersonalization(rendered.html).fill(example, 'html'),
    text: compilePersonalization(rendered.text).fill(example, 'text'),
    listFallback: 'missing' in found ? found.missing : undefined,
  };
}

/**
 * What the issue itself can tell about its list: the slug (for links) and the language. Name
 * and contact line live only in the list record; the stand-ins say so on the page.
 */
function placeholderList(issue: Issue): RenderContext['list'] {
  return { slug: issue.list, name: '[list name]', language: issue.language ?? 'en', contact: '[contact / postal line of the list]' };
}
