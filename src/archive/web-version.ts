import { escapeHtml } from '../escape-html';
import { pickLanguage, t, type Lang } from '../i18n';
import { issueView, renderIssue, type IssueView, type RenderContext } from '../issues/render';
import { richHtml } from '../issues/rich-text';
import type { Templates } from '../issues/templates';
import type { Issue } from '../issues/types';

/**
 * The web version of a sent issue, written for a visitor: what a forwarded link or a search
 * result shows a stranger. The same compiled email (renderIssue) in its visitor form: no
 * greeting, no "because you subscribed", no preferences or unsubscribe link, nothing left to
 * personalize. Around it: a way back to the archive, a subscribe form, a "send it to a friend"
 * link named by the issue's title, and the card tags (Open Graph, Twitter) a shared link shows.
 * Pure apart from mjml's own work.
 */

export interface WebVersionList {
  slug: string;
  name: string;
  language: string;
  contact: string;
  /** Markdown subset; shown above the subscribe form. */
  description?: string | null;
  /** What each cadence gets, in the editor's words; the catalogue's otherwise. */
  weekly_description?: string | null;
  monthly_description?: string | null;
}

export interface WebVersionInput {
  issue: Issue;
  list: WebVersionList;
  publicUrl: string;
  /** Titles of the weeklies a digest covers, by slug: the email's own "covers" block shows them. */
  coverTitles?: Readonly<Record<string, string>>;
}

export function visitorContext(input: WebVersionInput): RenderContext {
  const { issue, list, publicUrl } = input;
  return {
    list: { slug: list.slug, name: list.name, language: list.language, contact: list.contact },
    publicUrl,
    assetBaseUrl: `${publicUrl}/assets/${encodeURIComponent(list.slug)}/${encodeURIComponent(issue.slug)}`,
    cadence: issue.kind === 'digest' ? 'monthly' : 'weekly',
    coverTitles: input.coverTitles,
    audience: 'visitor',
  };
}

export async function renderWebVersion(input: WebVersionInput, templates: Templates): Promise<string> {
  const { issue, list, publicUrl } = input;
  const ctx = visitorContext(input);
  const view = issueView(issue, ctx);
  const rendered = await renderIssue(issue, ctx, templates);
  const listPath = `/lists/${encodeURIComponent(list.slug)}`;
  const lang = pickLanguage(view.language);
  const head = [
    // As on every page: no favicon request, so no 404 in the console and no asset to host.
    '<link rel="icon" href="data:,">',
    `<link rel="alternate" type="application/atom+xml" title="${escapeHtml(list.name)}" href="${escapeHtml(`${publicUrl}${listPath}/feed.xml`)}">`,
    `<link rel="canonical" href="${escapeHtml(view.webUrl)}">`,
    cardTags(view, rendered.preheader),
  ].join('');
  const page = rendered.html.replace(/<\/head>/i, `${head}</head>`);
  return injectAround(page, topBar(lang, list, listPath), subscribeBox(lang, list, listPath) + forwardBox(lang, view));
}

/**
 * Open Graph and Twitter card tags: a shared link shows the issue's title, its preheader and
 * its first image. Crawlers fetch the image from another origin, so its URL must be absolute:
 * the view has resolved every image against the public URL already.
 */
export function cardTags(view: IssueView, description: string): string {
  const image = firstImage(view);
  const tags: Array<[attr: 'property' | 'name', key: string, value: string | undefined]> = [
    ['name', 'description', description],
    ['property', 'og:type', 'article'],
    ['property', 'og:site_name', view.listName],
    ['property', 'og:title', view.issue.title],
    ['property', 'og:description', description],
    ['property', 'og:url', view.webUrl],
    ['property', 'og:locale', view.language.replace('-', '_')],
    ['property', 'og:image', image?.src],
    ['property', 'og:image:alt', image?.alt],
    ['property', 'article:published_time', view.issue.date],
    ['name', 'twitter:card', image ? 'summary_large_image' : 'summary'],
    ['name', 'twitter:title', view.issue.title],
    ['name', 'twitter:description', description],
    ['name', 'twitter:image', image?.src],
    ['name', 'twitter:image:alt', image?.alt],
  ];
  return tags
    .filter((tag): tag is [(typeof tag)[0], string, string] => tag[2] !== undefined && tag[2] !== '')
    .map(([attr, key, value]) => `<meta ${attr}="${key}" content="${escapeHtml(value)}">`)
    .join('');
}

function firstImage(view: IssueView): { src: string; alt: string } | undefined {
  for (const section of view.sections) {
    for (const item of section.items) if (item.image) return { src: item.image.src, alt: item.image.alt };
  }
  return undefined;
}

/** Puts `top` right after `<body…>` and `bottom` right before `</body>`. */
function injectAround(document: string, top: string, bottom: string): string {
  const open = /<body[^>]*>/i.exec(document);
  const close = document.lastIndexOf('</body>');
  if (!open || close < 0) return top + document + bottom;
  const afterOpen = open.index + open[0].length;
  return document.slice(0, afterOpen) + top + document.slice(afterOpen, close) + bottom + document.slice(close);
}

// The email's own stylesheet is tuned for mail clients; these blocks carry their style inline
// so they look the same whatever the email's CSS says, at 375 px and on a desktop.
const BOX =
  'max-width:600px;margin:0 auto;padding:16px;box-sizing:border-box;font-family:-apple-system,BlinkMacSystemFont,&quot;Segoe UI&quot;,Roboto,Arial,&quot;PingFang SC&quot;,&quot;Noto Sans CJK SC&quot;,&quot;Microsoft YaHei&quot;,sans-serif;font-size:16px;line-height:1.6;color:#1f2328;';
const LINK = 'color:#0b57d0;';
const CARD = 'background:#ffffff;border:1px solid #e3ddd1;border-radius:12px;padding:20px;';

function topBar(lang: Lang, list: WebVersionList, listPath: string): string {
  return `<nav aria-label="${escapeHtml(list.name)}" style="${BOX}"><a style="${LINK}display:inline-block;padding:10px 0;" href="${listPath}/archive">← ${escapeHtml(t(lang, 'archive.back', { list: list.name }))}</a></nav>`;
}

function subscribeBox(lang: Lang, list: WebVersionList, listPath: string): string {
  const input =
    'display:block;width:100%;box-sizing:border-box;min-height:48px;font:inherit;padding:10px 12px;border:1px solid #57606a;border-radius:8px;margin:0 0 12px;background:#fff;color:#1f2328;';
  const gets = {
    weekly: list.weekly_description ?? t(lang, 'cadence.weekly.hint'),
    monthly: list.monthly_description ?? t(lang, 'cadence.monthly.hint'),
  };
  const radio = (value: 'weekly' | 'monthly', checked: boolean) =>
    `<label style="display:flex;gap:10px;align-items:center;min-height:44px;"><input type="radio" name="cadence" value="${value}"${checked ? ' checked' : ''} style="flex:none;width:22px;height:22px;margin:0;"><span>${escapeHtml(t(lang, value === 'weekly' ? 'cadence.weekly' : 'cadence.monthly'))} <span style="color:#57606a;font-size:14px;">${escapeHtml(gets[value])}</span></span></label>`;
  const about = list.description ? `<div style="margin:0 0 12px;">${richHtml(list.description)}</div>` : '';
  return `<section id="subscribe" aria-labelledby="subscribe-title" style="${BOX}padding-bottom:8px;"><div style="${CARD}border:2px solid #0b57d0;">
<h2 id="subscribe-title" style="font-size:20px;line-height:1.4;margin:0 0 8px;">${escapeHtml(t(lang, 'web.subscribe.title', { list: list.name }))}</h2>
${about}<p style="margin:0 0 16px;color:#57606a;">${escapeHtml(t(lang, 'web.subscribe.intro'))}</p>
<form method="post" action="${listPath}/subscribe">
<label for="email" style="display:block;font-weight:600;margin:0 0 6px;">${escapeHtml(t(lang, 'field.email'))}</label>
<input id="email" name="email" type="email" required autocomplete="email" inputmode="email" maxlength="254" style="${input}">
<fieldset style="border:0;margin:0 0 12px;padding:0;min-width:0;"><legend style="font-weight:600;padding:0;margin:0 0 4px;">${escapeHtml(t(lang, 'field.cadence'))}</legend>${radio('weekly', true)}${radio('monthly', false)}</fieldset>
<div aria-hidden="true" style="position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden;"><label for="website">${escapeHtml(t(lang, 'subscribe.honeypot'))}</label><input id="website" name="website" type="text" tabindex="-1" autocomplete="off"></div>
<button type="submit" style="display:block;width:100%;min-height:48px;font:inherit;font-weight:600;color:#fff;background:#0b57d0;border:0;border-radius:8px;cursor:pointer;">${escapeHtml(t(lang, 'subscribe.submit'))}</button>
</form>
<p style="color:#57606a;font-size:14px;margin:12px 0 0;">${escapeHtml(t(lang, 'subscribe.privacy'))}</p>
</div></section>`;
}

/**
 * "Send it to a friend": the link is named by the issue's title, never by a bare host name
 * (which reads "localhost" or "news.example.org" and tells the friend nothing).
 */
function forwardBox(lang: Lang, view: IssueView): string {
  return `<aside aria-labelledby="forward-title" style="${BOX}padding-bottom:48px;"><div style="${CARD}">
<h2 id="forward-title" style="font-size:18px;line-height:1.4;margin:0 0 6px;">${escapeHtml(t(lang, 'web.forward.title'))}</h2>
<p style="margin:0;">${escapeHtml(t(lang, 'web.forward.body'))} <a style="${LINK}" href="${escapeHtml(view.webUrl)}">${escapeHtml(view.issue.title)}</a></p>
</div></aside>`;
}
