import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import yauzl from 'yauzl';
import type { Db } from '../db/database';
import type { IssueRow, List } from '../db/schema';
import { AppError, isAppError } from '../errors';
import { locateProblems, type LocatedProblem } from './problem-lines';
import { importIssue } from './repository';
import type { Issue } from './types';
import { validateIssueFile } from './validate';

/**
 * An issue as the desk receives it, turned into what `broadsheet issues import` reads: a
 * folder with the JSON and its images. Then the same validation and the same `importIssue`
 * as the CLI, so an upload and a command can never disagree about what is valid.
 *
 * - files: the JSON and images picked in a file input. Browsers send only base names, so an
 *   image is placed where the JSON refers to it by its name (`images/dalle.png` ← `dalle.png`).
 * - zip: the folder as an editor zipped it (with or without a top folder).
 * - json: pasted text. Its relative images come from the upload it corrects (`previous`) or
 *   from what the list already stores: a curated digest names `WEEKLY-SLUG/images/x.png`,
 *   and a corrected issue its own earlier images.
 *
 * A rejected upload is kept for a day under DATA_DIR/uploads/ID, so the editor can fix the
 * JSON on the page and send it again without choosing the images again.
 */

export type IssueUpload =
  { kind: 'files'; files: { name: string; data: Buffer }[] } | { kind: 'zip'; data: Buffer } | { kind: 'json'; text: string; previous?: string };

export type UploadResult = { ok: true; issue: IssueRow; replaced: boolean } | { ok: false; problems: LocatedProblem[]; text: string; uploadId: string };

export const UPLOAD_LIMITS = { bytes: 25 * 1024 * 1024, files: 300 };
const KEEP_REJECTED_MS = 24 * 3600_000;
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function uploadsDir(dataDir: string): string {
  return path.join(dataDir, 'uploads');
}

/** A relative path that stays inside its folder, with "/" separators; undefined otherwise. */
function safeRelative(name: string): string | undefined {
  const parts = name
    .replace(/\\/g, '/')
    .split('/')
    .filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.some((p) => p === '..' || p.includes('\u0000'))) return undefined;
  return parts.join('/');
}

function relativeImages(value: unknown): string[] {
  const sections = (value as { sections?: unknown })?.sections;
  if (!Array.isArray(sections)) return [];
  const srcs: string[] = [];
  for (const s of sections) {
    for (const item of Array.isArray((s as { items?: unknown })?.items) ? (s as { items: unknown[] }).items : []) {
      const src = (item as { image?: { src?: unknown } })?.image?.src;
      if (typeof src === 'string' && !/^[a-z][a-z0-9+.-]*:/i.test(src)) {
        const rel = safeRelative(src);
        if (rel) srcs.push(rel);
      }
    }
  }
  return srcs;
}

async function exists(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => undefined))?.isFile() ?? false;
}

async function writeInside(dir: string, rel: string, data: Buffer): Promise<void> {
  const to = path.join(dir, rel);
  await fs.mkdir(path.dirname(to), { recursive: true });
  await fs.writeFile(to, data);
}

/** The zip's files, names checked by yauzl (no absolute paths, no `..`) and sizes bounded. */
export function readZip(data: Buffer, limits = UPLOAD_LIMITS): Promise<{ name: string; data: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const bad = (message: string) => new AppError('invalid_input', message);
    yauzl.fromBuffer(data, { lazyEntries: true, validateEntrySizes: true }, (err, zip) => {
      if (err || !zip) return reject(bad(`not a readable zip file: ${err?.message ?? 'unknown error'}`));
      const files: { name: string; data: Buffer }[] = [];
      let total = 0;
      zip.on('error', (e: Error) => reject(bad(`not a readable zip file: ${e.message}`)));
      zip.on('end', () => resolve(files));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith('/')) return zip.readEntry();
        // Mac archives carry resource forks and .DS_Store files: not part of the issue.
        if (/(^|\/)(__MACOSX\/|\.DS_Store$)/.test(entry.fileName)) return zip.readEntry();
        total += entry.uncompressedSize;
        if (files.length >= limits.files) return reject(bad(`the zip has more than ${limits.files} files`));
        if (total > limits.bytes) return reject(bad(`the zip unpacks to more than ${limits.bytes / 1024 / 1024} MB`));
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(bad(`cannot read ${entry.fileName} in the zip: ${e?.message}`));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', (se: Error) => reject(bad(`cannot read ${entry.fileName} in the zip: ${se.message}`)));
          stream.on('end', () => {
            files.push({ name: entry.fileName, data: Buffer.concat(chunks) });
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

/** The issue JSON among files: the only .json, else `issue.json`, the shallowest first. */
function pickJson(names: string[]): string {
  const json = names.filter((n) => n.toLowerCase().endsWith('.json')).sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  if (json.length === 0) throw new AppError('invalid_input', 'no .json file among the uploaded files: the issue is a JSON file');
  if (json.length === 1) return json[0]!;
  const named = json.find((n) => path.posix.basename(n) === 'issue.json');
  if (named) return named;
  throw new AppError('invalid_input', `more than one .json file (${json.slice(0, 3).join(', ')}…): upload one issue at a time, or name it issue.json`);
}

/** Puts an upload in a fresh folder as `issue.json` and its images; returns the JSON text. */
async function materialize(dir: string, upload: IssueUpload, fallbacks: string[]): Promise<string> {
  let text: string;
  if (upload.kind === 'json') {
    text = upload.text;
  } else {
    const files = upload.kind === 'zip' ? await readZip(upload.data) : upload.files;
    const named = new Map<string, Buffer>();
    for (const f of files) {
      const rel = safeRelative(f.name);
      if (rel) named.set(rel, f.data);
    }
    const jsonName = pickJson([...named.keys()]);
    text = named.get(jsonName)!.toString('utf8');
    // Every file under the JSON's folder keeps its place; single picked files are matched below.
    const root = path.posix.dirname(jsonName);
    for (const [rel, data] of named) {
      if (rel === jsonName) continue;
      const inside = root === '.' ? rel : rel.startsWith(`${root}/`) ? rel.slice(root.length + 1) : undefined;
      if (inside) await writeInside(dir, inside, data);
    }
    if (upload.kind === 'files') {
      const byBase = new Map([...named].map(([rel, data]) => [path.posix.basename(rel), data]));
      for (const src of relativeImagesOfText(text)) {
        const data = byBase.get(path.posix.basename(src));
        if (data && !(await exists(path.join(dir, src)))) await writeInside(dir, src, data);
      }
    }
  }
  // What the upload did not bring may already be here: the corrected upload, the list's assets.
  for (const src of relativeImagesOfText(text)) {
    if (await exists(path.join(dir, src))) continue;
    for (const base of fallbacks) {
      const from = path.join(base, src);
      if (from.startsWith(base + path.sep) && (await exists(from))) {
        await writeInside(dir, src, await fs.readFile(from));
        break;
      }
    }
  }
  await fs.writeFile(path.join(dir, 'issue.json'), text);
  return text;
}

function relativeImagesOfText(text: string): string[] {
  try {
    return relativeImages(JSON.parse(text.replace(/^\uFEFF/, '')));
  } catch {
    return [];
  }
}

/** Old rejected uploads go; run before each new one, so nothing else has to sweep. */
async function sweep(dataDir: string, now: number): Promise<void> {
  const dir = uploadsDir(dataDir);
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const stat = await fs.stat(path.join(dir, name)).catch(() => undefined);
    if (stat && now - stat.mtimeMs > KEEP_REJECTED_MS) await fs.rm(path.join(dir, name), { recursive: true, force: true });
  }
}

/**
 * Validates an uploaded issue and, when valid, imports it into `list`. Problems come back with
 * their JSON pointer (as `broadsheet validate` prints them) and the line in the JSON text.
 */
export async function uploadIssue(db: Db, input: { list: List; upload: IssueUpload; dataDir: string; now?: Date }): Promise<UploadResult> {
  const { list, upload, dataDir } = input;
  await sweep(dataDir, (input.now ?? new Date()).getTime());
  const uploadId = randomUUID();
  const dir = path.join(uploadsDir(dataDir), uploadId);
  await fs.mkdir(dir, { recursive: true });
  let keep = false;
  try {
    const fallbacks: string[] = [];
    if (upload.kind === 'json' && upload.previous && UPLOAD_ID.test(upload.previous)) fallbacks.push(path.join(uploadsDir(dataDir), upload.previous));
    const listAssets = path.join(dataDir, 'assets', list.slug);
    const slug = (() => {
      try {
        return (JSON.parse((upload.kind === 'json' ? upload.text : '').replace(/^\uFEFF/, '')) as { slug?: unknown }).slug;
      } catch {
        return undefined;
      }
    })();
    if (typeof slug === 'string' && safeRelative(slug) === slug && !slug.includes('/')) fallbacks.push(path.join(listAssets, slug));
    fallbacks.push(listAssets);

    const text = await materialize(dir, upload, fallbacks);
    const checked = await validateIssueFile(path.join(dir, 'issue.json'));
    if (!checked.ok) {
      keep = true;
      return { ok: false, problems: locateProblems(text, checked.problems), text, uploadId };
    }
    const issue: Issue = checked.issue;
    if (issue.list !== list.slug) {
      keep = true;
      return {
        ok: false,
        problems: locateProblems(text, [{ pointer: '/list', message: `the issue is for list "${issue.list}", not "${list.slug}"` }]),
        text,
        uploadId,
      };
    }
    try {
      return { ok: true, ...(await importIssue(db, { list, issue, baseDir: checked.baseDir, dataDir })) };
    } catch (err) {
      // A sent issue cannot be replaced: said next to the text, like any other problem.
      if (isAppError(err) && err.code === 'conflict') {
        keep = true;
        return { ok: false, problems: locateProblems(text, [{ pointer: '/slug', message: err.message }]), text, uploadId };
      }
      throw err;
    }
  } finally {
    if (!keep) await fs.rm(dir, { recursive: true, force: true });
  }
}
