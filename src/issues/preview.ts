import fs from 'node:fs';
import path from 'node:path';
import type { Server } from 'node:http';
import express from 'express';
import { escapeHtml } from '../escape-html';
import { compileIssueFile, type CompiledFile, type ListSource } from './compile-file';
import { formatProblems } from './validate';

export interface PreviewServer {
  url: string;
  close(): Promise<void>;
}

/**
 * `broadsheet preview FILE`: the email at phone and desktop widths side by side, the text part,
 * subject and preheader; recompiled when anything in the issue's folder changes, and the page
 * reloads itself (server-sent events). Problems in the file show on the page instead.
 */
export async function startPreviewServer(file: string, port: number, options: { listSource?: ListSource } = {}): Promise<PreviewServer> {
  const absolute = path.resolve(file);
  const dir = path.dirname(absolute);
  const app = express();
  let baseUrl = '';
  let current: CompiledFile | { ok: false; problems: { pointer: string; message: string }[] } = { ok: false, problems: [] };
  const clients = new Set<express.Response>();

  const compile = async () => {
    try {
      current = await compileIssueFile(absolute, { publicUrl: baseUrl, assetBaseUrl: `${baseUrl}/assets`, listSource: options.listSource });
    } catch (err) {
      current = { ok: false, problems: [{ pointer: '', message: (err as Error).message }] };
    }
    for (const res of clients) res.write('data: reload\n\n');
  };

  // Only this machine's names for the server: a web page elsewhere could otherwise point a
  // name it controls at 127.0.0.1 (DNS rebinding) and read the preview and the files it serves.
  app.use((req, res, next) => {
    if (allowedHosts.has(String(req.headers.host).toLowerCase())) return next();
    res.status(421).type('text/plain').send('this preview answers only to 127.0.0.1 and localhost\n');
  });
  app.get('/', (_req, res) => res.type('html').send(page(path.basename(absolute), current)));
  app.get('/email.html', (_req, res) => {
    res.type('html').send(current.ok ? current.html : '<!doctype html><p>The issue has problems; see the preview page.</p>');
  });
  app.get('/events', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': connected\n\n');
    clients.add(res);
    req.on('close', () => clients.delete(res));
  });
  // Relative image paths of the issue, served from its folder as the asset store would;
  // nothing outside it, not even through a symlink in it.
  app.use('/assets', async (req, res) => {
    const file = await assetPath(dir, req.path);
    if (!file) return void res.status(404).type('text/plain').send('not found\n');
    res.sendFile(file, { dotfiles: 'allow' });
  });

  const server: Server = await new Promise((resolve) => {
    const s = app.listen(port, '127.0.0.1', () => resolve(s));
  });
  const actualPort = (server.address() as { port: number }).port;
  const allowedHosts = new Set([`127.0.0.1:${actualPort}`, `localhost:${actualPort}`]);
  baseUrl = `http://127.0.0.1:${actualPort}`;
  await compile();

  // Editors save by rename as often as in place, so the folder is watched, not the file.
  let timer: NodeJS.Timeout | undefined;
  const watcher = fs.watch(dir, { recursive: true }, () => {
    clearTimeout(timer);
    timer = setTimeout(() => void compile(), 100);
  });

  return {
    url: baseUrl,
    async close() {
      watcher.close();
      clearTimeout(timer);
      for (const res of clients) res.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The real path of an asset the issue may use: inside the issue's folder once symlinks are
 * resolved, a regular file, no dot-file on the way. Undefined for anything else.
 */
async function assetPath(dir: string, urlPath: string): Promise<string | undefined> {
  try {
    const requested = decodeURIComponent(urlPath);
    if (requested.includes('\u0000') || requested.split('/').some((part) => part.startsWith('.'))) return undefined;
    const root = await fs.promises.realpath(dir);
    const real = await fs.promises.realpath(path.join(dir, requested));
    if (!real.startsWith(root + path.sep)) return undefined;
    return (await fs.promises.stat(real)).isFile() ? real : undefined;
  } catch {
    return undefined;
  }
}

function page(name: string, compiled: CompiledFile): string {
  const body = compiled.ok
    ? `<dl><dt>Subject</dt><dd>${escapeHtml(compiled.rendered.subject)}</dd><dt>Preheader</dt><dd>${escapeHtml(compiled.rendered.preheader)}</dd>` +
      `<dt>HTML size</dt><dd>${(Buffer.byteLength(compiled.html) / 1024).toFixed(1)} KB (Gmail clips above 102 KB)</dd>` +
      `<dt>List</dt><dd>${compiled.listFallback === undefined ? 'name and contact line from the list record' : `placeholders for the name and contact line: ${escapeHtml(compiled.listFallback)}`}</dd></dl>` +
      `<div class="frames"><figure><figcaption>Phone, 375 px</figcaption><iframe title="Email at phone width" src="/email.html" style="width:375px"></iframe></figure>` +
      `<figure><figcaption>Desktop, 700 px</figcaption><iframe title="Email at desktop width" src="/email.html" style="width:700px"></iframe></figure></div>` +
      `<h2>Text part</h2><pre>${escapeHtml(compiled.text)}</pre>`
    : `<div role="alert" class="problems"><h2>${compiled.problems.length} problem${compiled.problems.length === 1 ? '' : 's'}</h2><pre>${escapeHtml(formatProblems(compiled.problems))}</pre><p>Fix the file and save: this page reloads by itself.</p></div>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Preview: ${escapeHtml(name)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:1.5rem;color:#1f2328;background:#f6f8fa}
.frames{display:flex;gap:1.5rem;align-items:flex-start;overflow-x:auto}figure{margin:0}iframe{height:85vh;border:1px solid #d0d7de;background:#fff}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
pre{white-space:pre-wrap;background:#fff;border:1px solid #d0d7de;padding:1rem;max-width:80ch}.problems{border-left:4px solid #cf222e;padding-left:1rem}</style></head>
<body><h1>Preview: ${escapeHtml(name)}</h1>${body}
<script>new EventSource('/events').onmessage = () => location.reload();</script></body></html>`;
}
