import { escapeHtml } from '../escape-html';
import { pickLanguage, t, type Lang } from '../i18n';
import { compilePersonalization } from '../mail/personalize';
import { renderIssue, type RenderContext } from '../issues/render';
import type { Templates } from '../issues/templates';
import type { Issue } from '../issues/types';

/**
 * The web version of a sent issue: the very email (renderIssue, the same compiled content),
 * with the per-subscriber holes filled with values that name nobody, a way back to the
 * archive above it and a subscribe form below it. Pure apart from mjml's own work.
 */

export interface WebVersionList {
  slug: string;
  name: string;
  language: string;
  contact: string;
}

export interface WebVersionInput {
  issue: Issue;
  list: WebVersionList;
  publicUrl: string;
  /** Titles of the weeklies a digest covers, by slug: the email's own "covers" block shows them. */
  coverTitles?: Readonly<Record<string, string>>;
}

export async function renderWebVersion(input: WebVersionInput, templates: Templates): Promise<string> {
  const { issue, list, publicUrl } = input;
  const listPath = `/lists/${encodeURIComponent(list.slug)}`;
  const ctx: RenderContext = {
    list: { slug: list.slug, name: list.name, language: list.language, contact: list.contact },
    publicUrl,
    assetBaseUrl: `${publicUrl}/assets/${encodeURIComponent(list.slug)}/${encodeURIComponent(issue.slug)}`,
    cadence: issue.kind === 'digest' ? 'monthly' : 'weekly',
    coverTitles: input.coverTitles,
  };
  const rendered = await renderIssue(issue, ctx, templates);
  // Nobody's name, nobody's links: the footer's "preferences" and "unsubscribe" lead to the
  // page where a subscriber asks for their own link by address.
  const manage = `${publicUrl}${listPath}/preferences`;
  const page = compilePersonalization(rendered.html).fill(
    { name: '', preferences_url: manage, unsubscribe_url: manage, web_url: `${publicUrl}${listPath}/archive/${encodeURIComponent(issue.slug)}` },
    'html',
  );
  const lang = pickLanguage(issue.language ?? list.language);
  // As on every page: no favicon request, so no 404 in the console and no asset to host.
  const withIcon = page.replace(/<\/head>/i, '<link rel="icon" href="data:,"></head>');
  return injectAround(withIcon, topBar(lang, list, listPath), subscribeBox(lang, list, listPath));
}

/** Puts `top` right after `<body…>` and `bottom` right before `</body>`. */
function injectAround(document: string, top: string, bottom: string): string {
  const open = /<body[^>]*>/i.exec(document);
  const close = document.lastIndexOf('</body>');
  if (!open || close < 0) return top + document + bottom;
  const afterOpen = open.index + open[0].length;
  return document.slice(0, afterOpen) + top + document.slice(afterOpen, close) + bottom + document.slice(close);
}

// The email's own stylesheet is tuned for mail clients; these two blocks carry their style
// inline so they look the same whatever the email's CSS says, at 375 px and on a desktop.
const BOX = 'max-width:600px;margin:0 auto;padding:16px;box-sizing:border-box;font-family:-apple-system,BlinkMacSystemFont,&quot;Segoe UI&quot;,Roboto,Arial,&quot;PingFang SC&quot;,&quot;Microsoft YaHei&quot;,sans-serif;font-size:16px;line-height:1.5;color:#1f2328;';
const LINK = 'color:#0b57d0;';

function topBar(lang: Lang, list: WebVersionList, listPath: string): string {
  return `<nav aria-label="${escapeHtml(list.name)}" style="${BOX}"><a style="${LINK}" href="${listPath}/archive">← ${escapeHtml(t(lang, 'archive.back', { list: list.name }))}</a></nav>`;
}

function subscribeBox(lang: Lang, list: WebVersionList, listPath: string): string {
  const input = 'display:block;width:100%;box-sizing:border-box;min-height:48px;font:inherit;padding:10px 12px;border:1px solid #57606a;border-radius:8px;margin:0 0 12px;';
  const radio = (value: 'weekly' | 'monthly', checked: boolean) =>
    `<label style="display:flex;gap:10px;align-items:center;min-height:44px;"><input type="radio" name="cadence" value="${value}"${checked ? ' checked' : ''} style="width:22px;height:22px;margin:0;">${escapeHtml(t(lang, value === 'weekly' ? 'cadence.weekly' : 'cadence.monthly'))}<span style="color:#57606a;font-size:14px;">${escapeHtml(t(lang, value === 'weekly' ? 'cadence.weekly.hint' : 'cadence.monthly.hint'))}</span></label>`;
  return `<section aria-labelledby="subscribe-title" style="${BOX}padding-bottom:48px;">
<h2 id="subscribe-title" style="font-size:20px;margin:0 0 12px;">${escapeHtml(t(lang, 'archive.form.title', { list: list.name }))}</h2>
<form method="post" action="${listPath}/subscribe">
<label for="email" style="display:block;font-weight:600;margin:0 0 6px;">${escapeHtml(t(lang, 'field.email'))}</label>
<input id="email" name="email" type="email" required autocomplete="email" inputmode="email" maxlength="254" style="${input}">
<fieldset style="border:0;margin:0 0 12px;padding:0;"><legend style="font-weight:600;padding:0;margin:0 0 4px;">${escapeHtml(t(lang, 'field.cadence'))}</legend>${radio('weekly', true)}${radio('monthly', false)}</fieldset>
<div aria-hidden="true" style="position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden;"><label for="website">${escapeHtml(t(lang, 'subscribe.honeypot'))}</label><input id="website" name="website" type="text" tabindex="-1" autocomplete="off"></div>
<button type="submit" style="display:block;width:100%;min-height:48px;font:inherit;font-weight:600;color:#fff;background:#0b57d0;border:0;border-radius:8px;cursor:pointer;">${escapeHtml(t(lang, 'subscribe.submit'))}</button>
</form>
<p style="color:#57606a;font-size:14px;margin:12px 0 0;">${escapeHtml(t(lang, 'subscribe.privacy'))}</p>
</section>`;
}
