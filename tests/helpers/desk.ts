import type { EditorRole } from '../../src/db/schema';
import { addEditor } from '../../src/editors/service';
import type { World } from './world';

/**
 * A desk client for tests: a cookie jar over fetch, signed in the way an editor is (a sign-in
 * link's page, then its button), with the CSRF token of its session at hand.
 */
export interface DeskClient {
  email: string;
  cookie: string;
  csrf: string;
  /** A desk page, by its path under /admin ('/' is the home). */
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  /** A form POST; `_csrf` is added unless `fields` says otherwise (pass `_csrf: ''` to leave it out). */
  post(path: string, fields?: Record<string, string | string[]>, headers?: Record<string, string>): Promise<Response>;
}

/** The value of the `_csrf` field of the first form on a page. */
export function csrfIn(page: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(page);
  if (!match) throw new Error('no CSRF field on the page');
  return match[1]!;
}

/** `name=value` pairs of a response's Set-Cookie headers, for the next request's Cookie header. */
export function cookiesFrom(res: Response, previous = ''): string {
  const jar = new Map(
    previous
      .split('; ')
      .filter(Boolean)
      .map((c) => [c.slice(0, c.indexOf('=')), c] as const),
  );
  for (const header of res.headers.getSetCookie()) {
    const pair = header.split(';')[0]!;
    const name = pair.slice(0, pair.indexOf('='));
    if (/Max-Age=0/i.test(header)) jar.delete(name);
    else jar.set(name, pair);
  }
  return [...jar.values()].join('; ');
}

function form(fields: Record<string, string | string[]>): URLSearchParams {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const one of Array.isArray(v) ? v : [v]) if (!(k === '_csrf' && one === '')) body.append(k, one);
  return body;
}

/** Follows a sign-in link as a browser does: its page (which sets the pre-session cookie), then its button. */
export async function signInWithLink(link: string): Promise<{ cookie: string; response: Response }> {
  const page = await fetch(link, { headers: { accept: 'text/html' } });
  let cookie = cookiesFrom(page);
  const csrf = csrfIn(await page.text());
  const response = await fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', cookie },
    body: form({ _csrf: csrf }),
    redirect: 'manual',
  });
  cookie = cookiesFrom(response, cookie);
  return { cookie, response };
}

export function deskClient(baseUrl: string, email: string, cookie: string, csrf: string): DeskClient {
  const client: DeskClient = {
    email,
    cookie,
    csrf,
    get: (path, headers = {}) => fetch(`${baseUrl}/admin${path}`, { headers: { accept: 'text/html', cookie: client.cookie, ...headers }, redirect: 'manual' }),
    post: (path, fields = {}, headers = {}) =>
      fetch(`${baseUrl}/admin${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', cookie: client.cookie, ...headers },
        body: form({ _csrf: client.csrf, ...fields }),
        redirect: 'manual',
      }),
  };
  return client;
}

/** Adds an editor and signs them in; the client carries their session. */
export async function signedInEditor(app: Pick<World, 'baseUrl' | 'test' | 'config'>, email: string, role: EditorRole = 'owner'): Promise<DeskClient> {
  const { link } = await addEditor({ db: app.test.db, config: app.config }, { email, role });
  const { cookie, response } = await signInWithLink(link);
  if (response.status !== 303) throw new Error(`sign-in answered ${response.status}`);
  const home = await fetch(`${app.baseUrl}/admin`, { headers: { accept: 'text/html', cookie } });
  return deskClient(app.baseUrl, email, cookie, csrfIn(await home.text()));
}
