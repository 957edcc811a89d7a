import { readFile } from 'node:fs/promises';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { imageSize } from 'image-size';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import schema from '../../emails/issue.schema.json';
import { richTextLinks, SAFE_LINK } from './markdown';
import { assetFileProblem } from './asset-file';
import { parseJson } from './parse-json';
import type { Issue, IssueProblem } from './types';

/**
 * Validation of an issue file (format 1, docs/issue-format.md): JSON syntax, then the
 * JSON Schema in emails/issue.schema.json, then the rules a schema cannot express. Every
 * problem is collected, so an editor fixes a file in one pass instead of one error per run.
 */

export type ParseResult = { value: unknown } | { problems: IssueProblem[] };
export type ValidationResult = { ok: true; issue: Issue } | { ok: false; problems: IssueProblem[] };
export type FileValidationResult = { ok: true; issue: Issue; baseDir: string } | { ok: false; problems: IssueProblem[] };

export interface ValidateOptions {
  /**
   * Whether an image path relative to the issue file names an existing file. The path is
   * normalised, uses "/" and never leaves the issue's folder. Without it, relative paths
   * are only checked for their shape (e.g. for an issue whose assets are already stored).
   */
  assetExists?: (relativePath: string) => boolean;
  /** What is wrong with the file itself (a symbolic link, not a regular file), checked first. */
  assetProblem?: (relativePath: string) => string | undefined;
  /**
   * The natural size of an existing relative image, undefined when the file is not an image.
   * With it, the valid issue carries each relative image's real `width` and `height` (what
   * the editor wrote there is replaced), so rendering never guesses an aspect ratio.
   */
  imageSize?: (relativePath: string) => ImageSize | undefined;
}

export interface ImageSize {
  width: number;
  height: number;
}

export function parseIssueText(text: string): ParseResult {
  // Editors on Windows save UTF-8 with a BOM, which JSON.parse rejects.
  const parsed = parseJson(text.replace(/^\uFEFF/, ''));
  if ('value' in parsed) return parsed;
  if (text.trim() === '') return { problems: [{ pointer: '', message: 'malformed JSON: the file is empty' }] };
  const { line, column, reason } = parsed.error;
  return { problems: [{ pointer: '', message: `malformed JSON at line ${line}, column ${column}: ${reason}` }] };
}

export function validateIssue(value: unknown, opts: ValidateOptions = {}): ValidationResult {
  const validateSchema = compiledSchema();
  validateSchema(value);
  const images = checkImages(value, opts);
  const problems = [
    ...(validateSchema.errors ?? []).flatMap(schemaProblem),
    ...textProblems(value),
    ...richTextProblems(value),
    ...images.problems,
    ...sectionIdProblems(value),
  ];
  if (problems.length > 0) return { ok: false, problems: inDocumentOrder(value, problems) };
  return { ok: true, issue: withImageSizes(value as Issue, images.sizes) };
}

/** The IO edge of validation: reads the file and checks image paths against its folder. */
export async function validateIssueFile(file: string): Promise<FileValidationResult> {
  let text: string;
  try {
    // fatal: a file that is not UTF-8 is refused rather than silently turned into U+FFFD.
    text = new TextDecoder('utf-8', { fatal: true }).decode(await readFile(file));
  } catch (err) {
    return { ok: false, problems: [{ pointer: '', message: readFailure(file, err) }] };
  }
  const parsed = parseIssueText(text);
  if ('problems' in parsed) return { ok: false, problems: parsed.problems };

  const baseDir = path.dirname(path.resolve(file));
  // Synchronous because the check is a pure callback; an issue has a handful of images.
  const assetExists = (relativePath: string): boolean => statSync(path.join(baseDir, relativePath), { throwIfNoEntry: false })?.isFile() ?? false;
  const assetProblem = (relativePath: string) => assetFileProblem(baseDir, relativePath);
  const result = validateIssue(parsed.value, { assetExists, assetProblem, imageSize: (relativePath) => readImageSize(path.join(baseDir, relativePath)) });
  return result.ok ? { ...result, baseDir } : result;
}

/** One line per problem, `POINTER: message`; problems about the whole file have no pointer. */
export function formatProblems(problems: readonly IssueProblem[]): string {
  return problems.map(({ pointer, message }) => (pointer === '' ? message : `${pointer}: ${message}`)).join('\n');
}

// --- JSON Schema ---------------------------------------------------------------------------

let compiled: ValidateFunction | undefined;

/** Compiled on first use: compiling costs tens of milliseconds that most commands never need. */
function compiledSchema(): ValidateFunction {
  if (compiled) return compiled;
  // verbose: errors carry their schema node, where the schema keeps its own error messages.
  const ajv = new Ajv2020({ allErrors: true, verbose: true });
  addFormats(ajv, ['date']);
  // VS Code's message keywords: one wording for the editor's inline errors and for ours.
  ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
  ajv.addKeyword({ keyword: 'patternErrorMessage', schemaType: 'string' });
  compiled = ajv.compile(schema);
  return compiled;
}

interface MessageKeywords {
  errorMessage?: string;
  patternErrorMessage?: string;
}

function schemaProblem(error: ErrorObject): IssueProblem[] {
  const at = error.instancePath;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'if':
      // "must match else schema": the failing branch has already reported the real problem.
      return [];
    case 'required':
      return [{ pointer: childPointer(at, String(params.missingProperty)), message: 'is required' }];
    case 'additionalProperties':
      return [{ pointer: childPointer(at, String(params.additionalProperty)), message: 'unknown property' }];
  }
  const own = error.parentSchema as MessageKeywords | undefined;
  const message = own?.errorMessage ?? (error.keyword === 'pattern' ? own?.patternErrorMessage : undefined);
  return [{ pointer: at, message: message ?? genericMessage(error, params) }];
}

function genericMessage(error: ErrorObject, params: Record<string, unknown>): string {
  switch (error.keyword) {
    case 'type':
      return error.instancePath === '' ? 'an issue must be a JSON object' : `must be ${withArticle(String(params.type))}`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}`;
    case 'enum':
      return `must be ${alternatives((params.allowedValues as unknown[]).map((v) => JSON.stringify(v)))}`;
    case 'minLength':
      return params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters`;
    case 'maxLength':
      // Counted in code points, as ajv does, so a Chinese character or an emoji counts once.
      return `must be at most ${String(params.limit)} characters (it has ${[...String(error.data)].length})`;
    case 'minItems':
      return params.limit === 1 ? 'must have at least one entry' : `must have at least ${String(params.limit)} entries`;
    case 'format':
      return params.format === 'date' ? 'must be a real calendar date, YYYY-MM-DD' : `must be a valid ${String(params.format)}`;
    default:
      return error.message ?? 'is invalid';
  }
}

function withArticle(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function alternatives(values: string[]): string {
  return values.length <= 1 ? (values[0] ?? '') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
}

// --- Rules the schema cannot express ---------------------------------------------------------
// These run on whatever was parsed, valid or not, so they read it defensively.

// C0 and C1 controls except tab and newline; and unpaired surrogates, which no mail encoding
// can carry (they would reach the inbox as U+FFFD).
const FORBIDDEN_CHARACTER = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]|\p{Cs}/u;

function textProblems(value: unknown): IssueProblem[] {
  const problems: IssueProblem[] = [];
  for (const [pointer, node] of walk(value)) {
    if (typeof node !== 'string') continue;
    const found = FORBIDDEN_CHARACTER.exec(node)?.[0];
    if (found === undefined) continue;
    const code = `U+${(found.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
    const message =
      found === '\r'
        ? `contains a carriage return (${code}); use \\n for line breaks`
        : /\p{Cs}/u.test(found)
          ? `contains an unpaired surrogate (${code}), which is not valid Unicode`
          : `contains a control character (${code}); only line breaks and tabs are allowed`;
    problems.push({ pointer, message });
  }
  return problems;
}

function richTextProblems(value: unknown): IssueProblem[] {
  const problems: IssueProblem[] = [];
  for (const [pointer, text] of richTextFields(value)) {
    for (const target of richTextLinks(text)) {
      if (!SAFE_LINK.test(target)) {
        problems.push({ pointer, message: `link target ${JSON.stringify(target)} is not allowed: use http, https or mailto` });
      }
    }
  }
  return problems;
}

/** Every rich-text field of an issue, where it is. */
function* richTextFields(value: unknown): Generator<[string, string]> {
  const issue = asRecord(value);
  yield* stringAt('/intro', issue.intro);
  for (const [h, highlight] of asArray(issue.highlights).entries()) {
    for (const [p, point] of asArray(asRecord(highlight).points).entries()) {
      yield* stringAt(`/highlights/${h}/points/${p}`, point);
    }
  }
  for (const [s, section] of asArray(issue.sections).entries()) {
    yield* stringAt(`/sections/${s}/intro`, asRecord(section).intro);
    for (const [i, item] of asArray(asRecord(section).items).entries()) {
      yield* stringAt(`/sections/${s}/items/${i}/summary`, asRecord(item).summary);
      yield* stringAt(`/sections/${s}/items/${i}/image/credit`, asRecord(asRecord(item).image).credit);
    }
  }
  yield* stringAt('/outro', issue.outro);
}

/** Image files are read by image-size, which knows the headers of PNG, JPEG, GIF, WebP, SVG… */
export function readImageSize(file: string): ImageSize | undefined {
  try {
    const { width, height, orientation } = imageSize(readFileSync(file));
    if (!width || !height) return undefined;
    // EXIF orientations 5 to 8 turn a JPEG by 90°: readers see it with the sides swapped.
    return orientation !== undefined && orientation >= 5 ? { width: height, height: width } : { width, height };
  } catch {
    return undefined;
  }
}

/** Problems with image sources, and the natural size of each relative image, by item. */
function checkImages(value: unknown, opts: ValidateOptions): { problems: IssueProblem[]; sizes: Map<string, ImageSize> } {
  const problems: IssueProblem[] = [];
  const sizes = new Map<string, ImageSize>();
  for (const [s, section] of asArray(asRecord(value).sections).entries()) {
    for (const [i, item] of asArray(asRecord(section).items).entries()) {
      const src = asRecord(asRecord(item).image).src;
      if (typeof src !== 'string' || src === '') continue;
      const pointer = `/sections/${s}/items/${i}/image/src`;
      const source = imageSource(src, opts);
      if ('problem' in source) {
        problems.push({ pointer, message: source.problem });
      } else if ('relative' in source && opts.imageSize) {
        const size = opts.imageSize(source.relative);
        if (size) sizes.set(`${s}/${i}`, size);
        else problems.push({ pointer, message: `${source.relative} is not an image file that can be read (PNG, JPEG, GIF, WebP or SVG with a size)` });
      }
    }
  }
  return { problems, sizes };
}

function withImageSizes(issue: Issue, sizes: Map<string, ImageSize>): Issue {
  if (sizes.size === 0) return issue;
  return {
    ...issue,
    sections: issue.sections.map((section, s) => ({
      ...section,
      items: section.items.map((item, i) => {
        const size = sizes.get(`${s}/${i}`);
        return size && item.image ? { ...item, image: { ...item.image, ...size } } : item;
      }),
    })),
  };
}

const URL_SCHEME = /^([a-z][a-z0-9+.-]*):/i;
const WINDOWS_ABSOLUTE = /^([a-z]:)?[\\/]/i;

type ImageSource = { absolute: string } | { relative: string } | { problem: string };

/** An https URL, a relative path (normalised, with "/"), or what is wrong with it. */
function imageSource(src: string, { assetExists, assetProblem }: Pick<ValidateOptions, 'assetExists' | 'assetProblem'>): ImageSource {
  const scheme = URL_SCHEME.exec(src)?.[1]?.toLowerCase();
  // A one-letter "scheme" is a Windows drive (C:\…), handled as an absolute path below.
  if (scheme !== undefined && scheme.length > 1) {
    if (scheme === 'https') return URL.canParse(src) ? { absolute: src } : { problem: 'must be a valid https URL' };
    if (scheme === 'http') return { problem: 'must use https: mail clients block or flag images served over plain http' };
    return { problem: 'must be an https URL or a path relative to the issue file' };
  }
  if (WINDOWS_ABSOLUTE.test(src)) return { problem: 'must be a path relative to the issue file, not an absolute path' };
  const relative = path.posix.normalize(src.replaceAll('\\', '/'));
  if (relative === '..' || relative.startsWith('../')) return { problem: "must stay inside the issue's folder" };
  const problem = assetProblem?.(relative);
  if (problem) return { problem };
  if (assetExists && !assetExists(relative)) return { problem: `file not found: ${relative} (relative to the issue file)` };
  return { relative };
}

function sectionIdProblems(value: unknown): IssueProblem[] {
  const problems: IssueProblem[] = [];
  const firstUse = new Map<string, string>();
  for (const [s, section] of asArray(asRecord(value).sections).entries()) {
    const id = asRecord(section).id;
    if (typeof id !== 'string') continue;
    const pointer = `/sections/${s}/id`;
    const first = firstUse.get(id);
    if (first === undefined) firstUse.set(id, pointer);
    else problems.push({ pointer, message: `duplicate section id ${JSON.stringify(id)} (first used at ${first})` });
  }
  return problems;
}

// --- Pointers and order --------------------------------------------------------------------

/** RFC 6901: "~" and "/" inside a key are written "~0" and "~1". */
function childPointer(parent: string, key: string | number): string {
  return `${parent}/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

/** Every node of a parsed JSON value with its pointer, parents before children, in file order. */
function* walk(node: unknown, pointer = ''): Generator<[string, unknown]> {
  yield [pointer, node];
  if (Array.isArray(node)) {
    for (const [index, child] of node.entries()) yield* walk(child, childPointer(pointer, index));
  } else if (node !== null && typeof node === 'object') {
    for (const [key, child] of Object.entries(node)) yield* walk(child, childPointer(pointer, key));
  }
}

/**
 * Sorts problems by where they are in the file (a missing property right after its parent,
 * ties in the order found) and drops repeats, e.g. a URL failing both pattern and format.
 */
function inDocumentOrder(value: unknown, problems: IssueProblem[]): IssueProblem[] {
  const position = new Map<string, number>();
  for (const [pointer] of walk(value)) position.set(pointer, position.size);
  const positionOf = (pointer: string): number => {
    for (let p = pointer; ; p = p.slice(0, p.lastIndexOf('/'))) {
      const found = position.get(p);
      if (found !== undefined) return found;
      if (p === '') return 0;
    }
  };
  const seen = new Set<string>();
  return problems
    .filter(({ pointer, message }) => {
      const key = `${pointer}\n${message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .map((problem, found) => ({ problem, found, at: positionOf(problem.pointer) }))
    .sort((a, b) => a.at - b.at || a.found - b.found)
    .map(({ problem }) => problem);
}

// --- Reading untrusted shapes ----------------------------------------------------------------

function asRecord(node: unknown): Record<string, unknown> {
  return node !== null && typeof node === 'object' && !Array.isArray(node) ? (node as Record<string, unknown>) : {};
}

function asArray(node: unknown): unknown[] {
  return Array.isArray(node) ? node : [];
}

function* stringAt(pointer: string, node: unknown): Generator<[string, string]> {
  if (typeof node === 'string') yield [pointer, node];
}

function readFailure(file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `cannot read ${file}: no such file`;
  if (code === 'EISDIR') return `cannot read ${file}: it is a directory`;
  if (code === 'ERR_ENCODING_INVALID_ENCODED_DATA') return `cannot read ${file}: not valid UTF-8 text`;
  return `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`;
}
