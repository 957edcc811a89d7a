import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { GOLDEN_DIR } from '../fixtures/golden';
import { eventually } from '../helpers/eventually';
import { startPreviewServer, type PreviewServer } from '../../src/issues/preview';

let dir: string;
let server: PreviewServer;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'broadsheet-preview-'));
  await fs.cp(GOLDEN_DIR, dir, { recursive: true });
  server = await startPreviewServer(path.join(dir, 'issue.json'), 0);
});
afterAll(async () => {
  await server.close();
  await fs.rm(dir, { recursive: true, force: true });
});

async function get(p: string) {
  const res = await fetch(server.url + p);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

async function waitForPage(match: RegExp): Promise<string> {
  return eventually(
    async () => {
      const page = await get('/');
      return match.test(page.body) && page.body;
    },
    { what: `preview page matching ${match}`, everyMs: 100 },
  );
}

test('shows subject, both widths and the text part, and serves the email and its images', async () => {
  const page = await get('/');
  expect(page.status).toBe(200);
  expect(page.body).toContain('机器学习总结');
  expect(page.body).toMatch(/width:375px/);
  expect(page.body).toMatch(/width:700px/);
  const email = await get('/email.html');
  expect(email.body).toMatch(/<html[^>]*lang="zh-CN"/);
  const img = email.body.match(/src="(http:\/\/127\.0\.0\.1:\d+\/assets\/[^"]+)"/);
  expect(img).not.toBeNull();
  const asset = await fetch(img![1]!);
  expect(asset.status).toBe(200);
  expect(asset.headers.get('content-type')).toBe('image/png');
});

test('recompiles on save: problems show on the page, and go away when fixed', async () => {
  const file = path.join(dir, 'issue.json');
  const original = await fs.readFile(file, 'utf8');
  const issue = JSON.parse(original);
  issue.sections[0].items[0].url = 'not a url';
  await fs.writeFile(file, JSON.stringify(issue));
  const broken = await waitForPage(/role="alert"/);
  expect(broken).toContain('/sections/0/items/0/url');

  await fs.writeFile(file, original);
  await waitForPage(/width:700px/);
});

test("uses the list record's name and contact line, and says so when it has only placeholders", async () => {
  const page = await get('/');
  expect(page.body).toContain('placeholders for the name and contact line: no list record was looked up');
  const list = { slug: 'ml-news', name: '机器学习月报', language: 'zh-CN', contact: 'Example Press · Berlin' };
  const withList = await startPreviewServer(path.join(dir, 'issue.json'), 0, { listSource: async () => ({ list }) });
  try {
    const res = await fetch(`${withList.url}/`);
    expect(await res.text()).toContain('name and contact line from the list record');
    const email = await (await fetch(`${withList.url}/email.html`)).text();
    expect(email).toContain('你订阅了「机器学习月报」的每周版');
    expect(email).toContain('Example Press · Berlin');
  } finally {
    await withList.close();
  }
});

test('serves nothing from outside the issue folder, not even through a symlink in it', async () => {
  const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'broadsheet-outside-'));
  try {
    await fs.writeFile(path.join(outside, 'secret.txt'), 'private key material');
    await fs.symlink(path.join(outside, 'secret.txt'), path.join(dir, 'images', 'link.txt'));
    await fs.symlink(outside, path.join(dir, 'outside-dir'));
    for (const p of ['/assets/images/link.txt', '/assets/outside-dir/secret.txt', '/assets/..%2F..%2Fetc%2Fpasswd', '/assets/.hidden']) {
      const res = await get(p);
      expect(res.status).toBe(404);
      expect(res.body).not.toContain('private key material');
    }
  } finally {
    await fs.rm(path.join(dir, 'images', 'link.txt'), { force: true });
    await fs.rm(path.join(dir, 'outside-dir'), { force: true });
    await fs.rm(outside, { recursive: true, force: true });
  }
});

test('answers only to its own host names (a rebound DNS name gets nothing)', async () => {
  const port = new URL(server.url).port;
  const ask = (host: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/email.html', headers: { host } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
  expect((await ask(`127.0.0.1:${port}`)).status).toBe(200);
  expect((await ask(`localhost:${port}`)).status).toBe(200);
  const rebound = await ask(`attacker.example:${port}`);
  expect(rebound.status).toBe(421);
  expect(rebound.body).not.toContain('<html');
});
