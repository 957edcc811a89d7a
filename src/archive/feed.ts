import { Feed } from 'feed';
import { escapeHtml } from '../escape-html';

/**
 * The Atom feed of a list's sent issues. Pure: the same issues give the same XML, built by the
 * `feed` library (escaping, dates and the Atom structure are its job, not string gluing).
 */

export interface FeedIssue {
  slug: string;
  title: string;
  /** The summary line readers see in a feed reader. */
  summary?: string;
  /** The issue itself, as HTML (feed-content.ts): a feed reader can read the whole issue. */
  content?: string;
  /** When it was sent: the entry's `updated`. */
  sentAt: Date;
}

export interface FeedList {
  slug: string;
  name: string;
  language: string;
  from: string;
  /** The list's description as plain text: the feed's subtitle. */
  description?: string;
}

export function archiveFeed(list: FeedList, issues: readonly FeedIssue[], publicUrl: string): string {
  const listUrl = `${publicUrl}/lists/${encodeURIComponent(list.slug)}`;
  const feed = new Feed({
    id: `${listUrl}/archive`,
    title: list.name,
    description: list.description || undefined,
    link: `${listUrl}/archive`,
    language: list.language,
    // Newest first, so the first entry's time is the feed's; an empty feed has a fixed epoch
    // rather than "now", keeping the output a function of its input.
    updated: issues[0]?.sentAt ?? new Date(0),
    generator: 'Broadsheet',
    feedLinks: { atom: `${listUrl}/feed.xml` },
    author: { name: list.from.replace(/\s*<[^>]*>\s*$/, '').replace(/^"|"$/g, '') || list.name },
    copyright: list.name,
  });
  for (const issue of issues) {
    const link = `${listUrl}/archive/${encodeURIComponent(issue.slug)}`;
    // feed 4 writes entry titles and summaries as type="html": plain text must be escaped so
    // that a title like "<b> & co" is shown as written, not as markup.
    feed.addItem({
      title: escapeHtml(issue.title),
      id: link,
      link,
      date: issue.sentAt,
      description: issue.summary === undefined ? undefined : escapeHtml(issue.summary),
      // Already HTML; feed 4 escapes it into <content type="html">.
      content: issue.content,
    });
  }
  return feed.atom1();
}
