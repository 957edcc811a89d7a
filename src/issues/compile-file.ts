import type { Issue, IssueProblem } from './types';
import { validateIssueFile } from './validate';
import { renderIssue, type RenderContext, type RenderedIssue } from './render';
import { loadTemplates } from './templates';
import { compilePersonalization } from './personalize';

export type CompiledFile =
  | { ok: true; issue: Issue; baseDir: string; rendered: RenderedIssue; html: string; text: string }
  | { ok: false; problems: IssueProblem[] };

/**
 * validate + render for the editor's commands (`render`, `preview`), outside any database:
 * the list is described from the issue itself and the per-subscriber links are examples.
 */
export async function compileIssueFile(
  file: string,
  options: { publicUrl: string; assetBaseUrl?: string; cadence?: RenderContext['cadence'] },
): Promise<CompiledFile> {
  const checked = await validateIssueFile(file);
  if (!checked.ok) return checked;
  const { issue } = checked;
  const ctx: RenderContext = {
    list: { slug: issue.list, name: issue.list, language: issue.language ?? 'en', contact: '' },
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
  };
}
