import { escapeHtml } from '../escape-html';
import { richHtml, richInlineHtml } from '../issues/rich-text';
import { sectionHeading, type IssueView, type LinkView } from '../issues/view';

/**
 * An issue as a feed reader shows it: the web version's content (intro, highlights, sections
 * and their stories with images, outro, links) as plain semantic HTML, from the same view
 * model as the email. Not the email's HTML itself: feed readers strip its <style> and tables
 * for layout, and a feed of 50 issues must not run MJML 50 times. Built from a visitor's view
 * (`audience: 'visitor'`), so it holds no greeting and no personal link; every URL, images
 * included, is absolute (the view resolved them against the public URL). Pure.
 */
export function feedContentHtml(view: IssueView): string {
  const { issue, strings } = view;
  const out: string[] = [];
  if (issue.intro !== undefined) out.push(richHtml(issue.intro));

  if (view.covers.length > 0) {
    out.push(
      `<h2>${escapeHtml(strings.covers)}</h2>`,
      `<ul>${view.covers.map((c) => `<li><a href="${escapeHtml(c.url)}">${escapeHtml(c.title)}</a></li>`).join('')}</ul>`,
    );
  }
  if (issue.highlights && issue.highlights.length > 0) {
    out.push(`<h2>${escapeHtml(strings.highlights)}</h2>`);
    for (const h of issue.highlights) {
      out.push(`<h3>${escapeHtml(h.title)}</h3>`, `<ul>${h.points.map((p) => `<li>${richInlineHtml(p)}</li>`).join('')}</ul>`);
    }
  }
  for (const section of view.sections) {
    out.push(`<h2>${escapeHtml(sectionHeading(section))}</h2>`);
    if (section.intro !== undefined) out.push(richHtml(section.intro));
    for (const item of section.items) {
      out.push(`<h3><a href="${escapeHtml(item.url)}">${escapeHtml(item.title)}</a></h3>`);
      if (item.image) {
        const size = item.image.width && item.image.height ? ` width="${item.image.width}" height="${item.image.height}"` : '';
        out.push(`<p><img src="${escapeHtml(item.image.src)}" alt="${escapeHtml(item.image.alt)}"${size}></p>`);
      }
      out.push(`<p><small>${escapeHtml(item.source)}</small></p>`);
      if (item.paper) {
        const citation = escapeHtml(item.paper.citation);
        out.push(`<p>${item.paper.url ? `<a href="${escapeHtml(item.paper.url)}">${citation}</a>` : citation}</p>`);
      }
      if (item.summary !== undefined) out.push(richHtml(item.summary));
    }
  }
  if (issue.outro !== undefined) out.push(richHtml(issue.outro));
  if (view.callToAction) {
    if (view.callToAction.heading !== undefined) out.push(`<h2>${escapeHtml(view.callToAction.heading)}</h2>`);
    out.push(card(view.callToAction));
  }
  if (view.links.length > 0) {
    out.push(`<h2>${escapeHtml(view.linksHeading)}</h2>`, `<ul>${view.links.map((link) => `<li>${card(link)}</li>`).join('')}</ul>`);
  }
  return out.join('\n');
}

function card(link: LinkView): string {
  const description = link.description ? ` — ${escapeHtml(link.description)}` : '';
  return `<p><a href="${escapeHtml(link.url)}">${escapeHtml(link.title)}</a>${description}</p>`;
}
