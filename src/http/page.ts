import { createHash } from 'node:crypto';
import type { Response } from 'express';
import { escapeHtml } from '../escape-html';

/**
 * The layout of every public page, and the one way to write HTML in Broadsheet's pages:
 * the `html` tag escapes everything interpolated into it unless it is already `SafeHtml`
 * (another `html` fragment, or an explicit `raw()`), so user input cannot become markup.
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Marks trusted markup. Never pass anything a user typed. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

function render(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

export interface PageView {
  /** The document title; also what a screen reader announces first. */
  title: string;
  body: SafeHtml;
  /** More of the head: a list's Atom feed (`<link rel="alternate">`), a description. */
  head?: SafeHtml;
  /**
   * Public pages that should be found (home, subscribe, archive). Everything else, the pages
   * behind a reader's own link above all, stays `noindex`.
   */
  indexable?: boolean;
  /** A page of cards side by side on a wide screen (the home page's lists); one column on a phone. */
  wide?: boolean;
}

// Mobile-first: one column sized for a 375 px phone, widened only for larger screens; tap
// targets at least 44 px; visible focus; colours at WCAG AA contrast in light and dark mode.
const CSS = `
:root{color-scheme:light dark;--bg:#f5f6f8;--card:#fff;--text:#1f2328;--muted:#57606a;--border:#c9d1d9;--accent:#0b57d0;--on-accent:#fff;--danger:#b42318;--ok:#116329;--ok-bg:#e8f5ec;--err-bg:#fdecea}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--text:#e6edf3;--muted:#9da7b3;--border:#3d444d;--accent:#8ab4ff;--on-accent:#0d1117;--danger:#ff9389;--ok:#7ee2a0;--ok-bg:#12261b;--err-bg:#2d1414}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--text);font:16px/1.6 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC",sans-serif;overflow-wrap:anywhere}
main{max-width:34rem;margin:0 auto;padding:1.25rem 1rem 3rem}
.card{background:var(--card);border:1px solid var(--border);border-radius:12px;padding:1.25rem 1.125rem;margin:0 0 1rem}
.kicker{margin:0 0 .25rem;color:var(--muted);font-size:.875rem;font-weight:600}
h1{font-size:1.5rem;line-height:1.3;margin:0 0 .75rem}
h2{font-size:1.125rem;line-height:1.4;margin:0 0 .5rem}
p,form{margin:0 0 1rem}
.card>:last-child{margin-bottom:0}
a{color:var(--accent);text-underline-offset:.15em}
.field{margin:0 0 1.125rem}
label,legend{display:block;font-weight:600;margin:0 0 .375rem;padding:0}
.hint{display:block;color:var(--muted);font-size:.875rem;font-weight:400}
input[type=email],input[type=text]{display:block;width:100%;min-height:48px;font:inherit;padding:.625rem .75rem;color:var(--text);background:var(--card);border:1px solid var(--muted);border-radius:8px}
input[aria-invalid=true]{border:2px solid var(--danger)}
fieldset{border:0;margin:0 0 1.125rem;padding:0;min-width:0}
.choice{display:flex;gap:.75rem;align-items:flex-start;padding:.375rem 0}
.choice input{flex:none;width:1.375rem;height:1.375rem;margin:.125rem 0 0;accent-color:var(--accent)}
.choice label{font-weight:400;margin:0}
button{display:block;width:100%;min-height:48px;font:inherit;font-weight:600;padding:.625rem 1.25rem;color:var(--on-accent);background:var(--accent);border:2px solid var(--accent);border-radius:8px;cursor:pointer}
button.secondary{color:var(--accent);background:transparent}
button.danger{color:var(--danger);background:transparent;border-color:var(--danger)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.error{color:var(--danger);font-weight:600;margin:.375rem 0 0}
.notice{background:var(--ok-bg);border-left:4px solid var(--ok);border-radius:4px;padding:.625rem .875rem;margin:0 0 1rem}
.alert{background:var(--err-bg);border-left:4px solid var(--danger);border-radius:4px;padding:.625rem .875rem;margin:0 0 1rem}
.muted{color:var(--muted);font-size:.875rem}
.actions{display:grid;gap:.75rem}
.links{display:flex;flex-wrap:wrap;gap:.25rem 1.25rem;margin:0 0 1rem}
.links a{display:inline-block;min-height:44px;padding:.6rem 0}
.plain{list-style:none;margin:0 0 1rem;padding:0}
.plain li{margin:0 0 .625rem}
.plain li:last-child{margin-bottom:0}
.about{margin:0 0 1rem}
.about p{margin:0 0 .75rem}
.about>:last-child{margin-bottom:0}
.about ul{margin:0 0 .75rem;padding-left:1.25rem}
h3{font-size:1rem;line-height:1.4;margin:1.25rem 0 .5rem}
.issues li{display:flex;flex-direction:column}
.issues time{color:var(--muted);font-size:.875rem}
.hp{position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden}
.visually-hidden{position:absolute;width:1px;height:1px;margin:-1px;padding:0;border:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (min-width:40rem){main{padding-top:3rem}.card{padding:1.75rem}button{width:auto}}
@media (min-width:64rem){main.wide{max-width:72rem}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(24rem,34rem));justify-content:center;gap:1.25rem;align-items:start}.grid>.card{margin:0}main.wide>h1,main.wide>p{text-align:center}}
`.trim();

/**
 * What a family of pages adds to the common layout (the desk uses it): more style rules, a
 * header before `<main>`, and script modules. Each is allowed by the policy one by one: the
 * extra stylesheet by its hash, scripts only as files from this origin (no inline script).
 */
export interface Layout {
  /** More CSS, written once per layout (a constant): hashed like the base sheet. */
  css?: string;
  header?: SafeHtml;
  /** Same-origin URLs of script modules; a page without any gets a policy with no script at all. */
  scripts?: readonly string[];
}

const hashes = new Map<string, string>();
function styleHash(css: string): string {
  let value = hashes.get(css);
  if (value === undefined) {
    value = `'sha256-${createHash('sha256').update(css).digest('base64')}'`;
    hashes.set(css, value);
  }
  return value;
}

// The stylesheet is inline (no external assets) and allowed by its hash, so the policy can
// refuse every script and every other style. A page with script modules may load them from
// this origin only and talk back to it (Server-Sent Events); previews are same-origin frames.
function contentSecurityPolicy(layout: Layout | undefined): string {
  const styles = [styleHash(CSS), ...(layout?.css ? [styleHash(layout.css)] : [])].join(' ');
  const scripts = (layout?.scripts?.length ?? 0) > 0;
  return [
    "default-src 'none'",
    `style-src ${styles}`,
    "img-src 'self' data:",
    ...(scripts ? ["script-src 'self'", "connect-src 'self'"] : []),
    ...(layout ? ["frame-src 'self'"] : []),
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** `<link rel="icon" href="data:,">`: no favicon request, so no 404 in the console and no asset to host. */
export function renderPage(lang: string, view: PageView, layout?: Layout): string {
  const extraCss = layout?.css ? html`<style>${raw(layout.css)}</style>` : '';
  const scripts = (layout?.scripts ?? []).map((src) => html`<script type="module" src="${src}"></script>`);
  return (
    '<!doctype html>' +
    html`<html lang="${lang}" dir="ltr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark">${view.indexable ? '' : html`<meta name="robots" content="noindex">`}<link rel="icon" href="data:,"><title>${view.title}</title>${view.head ?? ''}<style>${raw(CSS)}</style>${extraCss}${scripts}</head><body>${layout?.header ?? ''}<main id="main"${view.wide ? html` class="wide"` : ''}>${view.body}</main></body></html>`
      .value
  );
}

/**
 * Sends a page with the headers every public page needs. `no-referrer` matters: the URL of
 * a subscriber page carries its token, which must not leak to a site the reader goes on to.
 */
export function sendPage(res: Response, status: number, lang: string, view: PageView, layout?: Layout): void {
  res
    .status(status)
    .set({
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': contentSecurityPolicy(layout),
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      // Pages show someone's own settings: never kept by a shared cache or the back button.
      'Cache-Control': 'no-store',
    })
    .send(renderPage(lang, view, layout));
}
