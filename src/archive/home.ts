import type { List } from '../db/schema';
import { html, type PageView } from '../http/page';
import { pickLanguage, t, type Lang } from '../i18n';
import { formatDate } from '../issues/strings';
import { cadenceHints, feedLink, listAbout, subscribeFields, type IssueLink } from '../subscribers/pages';

/**
 * `/`, the front door: every list with what it is, how often it comes, its latest issue and a
 * subscribe form right there (the subscribe page's form: the same POST, the same rules). The
 * page's own words follow the reader's browser; each list speaks its own language, down to the
 * form's labels, because a Chinese newsletter's reader reads Chinese.
 */
export interface HomeEntry {
  list: List;
  latest?: IssueLink;
}

export function homePage(lang: Lang, entries: readonly HomeEntry[]): PageView {
  const sections = entries.map(({ list, latest }) => listCard(list, latest));
  return {
    title: t(lang, 'home.title'),
    indexable: true,
    wide: true,
    head: html`${entries.map(({ list }) => feedLink(list))}`,
    body: html`<h1>${t(lang, 'home.title')}</h1>${
      entries.length > 0
        ? html`<p>${t(lang, 'home.intro')}</p><div class="grid" role="list">${sections}</div>`
        : html`<p class="card">${t(lang, 'home.empty')}</p>`
    }`,
  };
}

function listCard(list: List, latest: IssueLink | undefined) {
  const lang = pickLanguage(list.language);
  const path = `/lists/${encodeURIComponent(list.slug)}`;
  // Ids of one list's form must not clash with another's on the same page.
  const prefix = `${list.slug}-`;
  const hints = cadenceHints(lang, list);
  const vars = { list: list.name };
  return html`<section class="card" role="listitem" lang="${list.language}" aria-labelledby="${prefix}title">
<h2 id="${prefix}title"><a href="${path}">${list.name}</a></h2>
${listAbout(list)}
<h3>${t(lang, 'home.how_often')}</h3>
<ul class="plain"><li><strong>${t(lang, 'cadence.weekly')}</strong> · ${hints.weekly.when}<span class="hint">${hints.weekly.gets}</span></li><li><strong>${t(lang, 'cadence.monthly')}</strong> · ${hints.monthly.when}<span class="hint">${hints.monthly.gets}</span></li></ul>
<h3>${t(lang, 'home.latest')}</h3>
${
  latest
    ? html`<p><a href="${path}/archive/${encodeURIComponent(latest.slug)}">${latest.title}</a><br><time class="muted" datetime="${latest.date}">${formatDate(latest.date, list.language)}</time></p>`
    : html`<p class="muted">${t(lang, 'home.first_soon')}</p>`
}
<h3>${t(lang, 'home.subscribe_title', vars)}</h3>
${subscribeFields(lang, list, { values: {} }, { prefix, withName: false, compact: true })}
<nav class="links" aria-label="${list.name}"><a href="${path}/archive">${t(lang, 'home.archive')}</a><a href="${path}/feed.xml" type="application/atom+xml">${t(lang, 'archive.feed')}</a></nav>
</section>`;
}
