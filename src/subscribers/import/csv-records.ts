import { isUtf8 } from 'node:buffer';
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * The first stage of an import: CSV text in, records out, each with the line it starts on.
 *
 * Written here rather than taken from csv-parse because the import needs two things that
 * parser makes costly: exact line numbers (its own count is off after a quoted CRLF, and it
 * drops blank lines from its raw text) and cheap blank lines (it builds an Error object for
 * every record whose column count differs, ~30 µs each: a file of a million blank lines held
 * the event loop for 45 s). The dialect is RFC 4180 with the leniency an editor's files need:
 * CRLF, LF or a lone CR end a line; a byte-order mark is dropped; a quote inside an unquoted
 * field (O"Brien) is kept as text; text after a closing quote is kept too.
 *
 * A record that cannot be a row is handed out with its `problem` instead of its fields, so the
 * import reports its line and goes on: bytes that are not UTF-8 (a file saved as Latin-1 or
 * Windows-1252: decoding would silently store U+FFFD in a name), a NUL character (no text of
 * ours holds one; a UTF-16 file is full of them), a record over `maxRecordChars`.
 */

export interface CsvRecord {
  /** The line the record starts on, counting from 1; a quoted field may span more. */
  line: number;
  fields: string[];
  /** Why this record is not a row (its fields are then empty). */
  problem?: string;
}

/** The file cannot be read past `line`: the records before it were all handed out. */
export class CsvStop extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
    this.name = 'CsvStop';
  }
}

export interface CsvOptions {
  /**
   * A record longer than this (in characters) is reported and left out: the reading goes on
   * at the next line (a quote never closed is the usual cause, and every line after it is a
   * row of its own).
   */
  maxRecordChars: number;
  /** Told the size of every chunk read, before its records are handed out. */
  onChunk?: (bytes: number) => void;
}

const COMMA = 44;
const QUOTE = 34;
const LF = 10;
const CR = 13;

type Scan =
  | { kind: 'record'; fields: string[]; end: number; lines: number }
  /** The text ends before the record does: wait for more (or fail at the end of the input). */
  | { kind: 'more' };

/**
 * Reads one record starting at `start`. `final` says no more text will come, so a record
 * without its line break is complete (and an open quote is an error, reported by the caller).
 */
function scanRecord(text: string, start: number, final: boolean): Scan {
  const fields: string[] = [];
  let i = start;
  let lines = 0;
  for (;;) {
    let value = '';
    if (text.charCodeAt(i) === QUOTE) {
      // Quoted: up to the next quote not doubled; line breaks inside are part of the value.
      let from = i + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q === -1 || (q === text.length - 1 && !final)) return { kind: 'more' };
        value += text.slice(from, q);
        if (text.charCodeAt(q + 1) === QUOTE) {
          value += '"';
          from = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      lines += countBreaks(value);
    }
    // Unquoted text (or what follows a closing quote) up to a comma or a line break.
    let j = i;
    for (; j < text.length; j++) {
      const c = text.charCodeAt(j);
      if (c === COMMA || c === LF || c === CR) break;
    }
    value += text.slice(i, j);
    fields.push(value);
    if (j >= text.length) {
      if (!final) return { kind: 'more' };
      return { kind: 'record', fields, end: j, lines };
    }
    const c = text.charCodeAt(j);
    if (c === COMMA) {
      i = j + 1;
      continue;
    }
    if (c === CR) {
      // A CR at the very end may be the first half of a CRLF split between two chunks.
      if (j + 1 >= text.length && !final) return { kind: 'more' };
      return { kind: 'record', fields, end: text.charCodeAt(j + 1) === LF ? j + 2 : j + 1, lines: lines + 1 };
    }
    return { kind: 'record', fields, end: j + 1, lines: lines + 1 };
  }
}

function countBreaks(value: string): number {
  let n = 0;
  for (let k = 0; k < value.length; k++) {
    const c = value.charCodeAt(k);
    if (c === LF) n++;
    else if (c === CR) {
      n++;
      if (value.charCodeAt(k + 1) === LF) k++;
    }
  }
  return n;
}

/** A line of nothing but separators and spaces: not a record (and not worth a field array). */
function isBlank(fields: string[]): boolean {
  for (const f of fields) if (f.trim() !== '') return false;
  return true;
}

/**
 * Where a byte sequence that is not UTF-8 was, in the decoded text: a lone low surrogate,
 * which no UTF-8 (valid or not, as Node decodes it) ever turns into, so it cannot be confused
 * with a U+FFFD that the file really holds.
 */
const NOT_UTF8 = '\udfff';
const NUL = '\u0000';

function isContinuation(byte: number | undefined): boolean {
  return byte !== undefined && (byte & 0xc0) === 0x80;
}

/** The length of the well-formed UTF-8 sequence at `i` (Unicode's table 3-7), or 0. */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const b = bytes[i]!;
  if (b < 0x80) return 1;
  if (b < 0xc2) return 0;
  const b1 = bytes[i + 1];
  if (!isContinuation(b1)) return 0;
  if (b < 0xe0) return 2;
  if (b < 0xf0) {
    if ((b === 0xe0 && b1! < 0xa0) || (b === 0xed && b1! >= 0xa0)) return 0; // overlong, surrogate
    return isContinuation(bytes[i + 2]) ? 3 : 0;
  }
  if (b > 0xf4 || (b === 0xf0 && b1! < 0x90) || (b === 0xf4 && b1! >= 0x90)) return 0; // overlong, beyond U+10FFFF
  return isContinuation(bytes[i + 2]) && isContinuation(bytes[i + 3]) ? 4 : 0;
}

/** Bytes that are not all UTF-8: the good runs decoded, each bad sequence one NOT_UTF8. */
function decodeMarking(bytes: Buffer): string {
  let text = '';
  let run = 0;
  let i = 0;
  while (i < bytes.length) {
    const n = sequenceLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    text += bytes.toString('utf8', run, i) + NOT_UTF8;
    i++;
    while (i < bytes.length && isContinuation(bytes[i])) i++;
    run = i;
  }
  return text + bytes.toString('utf8', run);
}

/** How many bytes at the end of `bytes` start a character that the next chunk completes. */
function incompleteTail(bytes: Buffer): number {
  for (let k = 1; k <= Math.min(3, bytes.length); k++) {
    const b = bytes[bytes.length - k]!;
    if ((b & 0xc0) === 0x80) continue;
    const needs = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return needs > k ? k : 0;
  }
  return 0;
}

/**
 * UTF-8 chunks to text, like StringDecoder, except that a byte sequence that is not UTF-8
 * becomes NOT_UTF8 rather than U+FFFD. A chunk that is all UTF-8 (isUtf8 is native and
 * vectorised) is decoded as before; only a bad one is walked byte by byte.
 */
class Utf8Decoder {
  private held: Buffer | undefined;
  /** Some bytes so far were not UTF-8: records must be checked for NOT_UTF8. */
  invalid = false;

  write(chunk: Buffer): string {
    let bytes = this.held ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = undefined;
    const tail = incompleteTail(bytes);
    if (tail > 0) {
      this.held = Buffer.from(bytes.subarray(bytes.length - tail));
      bytes = bytes.subarray(0, bytes.length - tail);
    }
    if (isUtf8(bytes)) return bytes.toString('utf8');
    this.invalid = true;
    return decodeMarking(bytes);
  }

  /** The file ended inside a character: that character is not UTF-8. */
  end(): string {
    if (!this.held) return '';
    this.held = undefined;
    this.invalid = true;
    return NOT_UTF8;
  }
}

function includesIn(fields: string[], what: string): boolean {
  for (const f of fields) if (f.includes(what)) return true;
  return false;
}

/** The index just past the first line break at or after `from` (CRLF as one), or -1 when there is none yet. */
function pastLineBreak(text: string, from: number, final: boolean): number {
  for (let j = from; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === LF) return j + 1;
    if (c === CR) {
      if (j + 1 >= text.length && !final) return -1; // maybe a CRLF split between chunks
      return text.charCodeAt(j + 1) === LF ? j + 2 : j + 1;
    }
  }
  return -1;
}

export const PROBLEM_NOT_UTF8 = 'not valid UTF-8 text (save the file as "CSV UTF-8"); the line was left out';
export const PROBLEM_NUL = 'contains a NUL character (a zero byte), which no address or name holds; the line was left out';

function tooLong(maxRecordChars: number): string {
  return `longer than ${Math.round(maxRecordChars / 1024)} KB (a subscriber's row is well under 1 KB; is a quote never closed?); the line was left out`;
}

/**
 * The records of `input`, chunk by chunk: each yielded iterable scans the records completed by
 * one chunk as they are asked for (often none, for a long quoted field), so that a record is
 * made only when the import reads it and is garbage before the next one is made: a chunk's
 * records made all at once outlived the young generation's collections and were promoted to
 * the old one, thousands of them at every chunk. Each must be read to its end before the next
 * is asked for (it leaves behind the start of the record the next chunk completes). Blank
 * lines count for line numbers and are not handed out. Between chunks the generator gives
 * the event loop a turn, so that no file, however it is shaped, keeps other requests waiting.
 * A stop (unclosed quote, oversized record) is thrown as CsvStop after every record before it
 * was handed out.
 */
export async function* csvRecords(input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>, options: CsvOptions): AsyncGenerator<Iterable<CsvRecord>> {
  const decoder = new Utf8Decoder();
  let carry = '';
  let line = 1;
  let first = true;
  let reading = false;
  /** A NUL was seen in the text: records must be checked for one. */
  let nul = false;
  /** The rest of an oversized line is being passed over, up to its line break. */
  let skipping = false;

  function* take(text: string, final: boolean): Generator<CsvRecord> {
    let at = 0;
    if (skipping) {
      const next = pastLineBreak(text, 0, final);
      if (next === -1 && !final) {
        // Still inside the oversized line: keep at most a trailing CR, the half of a CRLF.
        carry = text.endsWith('\r') ? '\r' : '';
        reading = false;
        return;
      }
      skipping = false;
      line++;
      at = next === -1 ? text.length : next;
    }
    // The checks cost a scan of each field, so they run only once the text has had a NUL or
    // a bad byte at all: a clean file pays one indexOf per chunk and nothing per record.
    const checkNotUtf8 = decoder.invalid;
    const checkNul = nul;
    while (at < text.length) {
      const scan = scanRecord(text, at, final);
      if (scan.kind === 'more') break;
      const start = line;
      if (scan.end - at > options.maxRecordChars) {
        // As below: the reading goes on at the next line, not after the record, whose closing
        // quote may be the opening one of a row further down.
        yield { line: start, fields: [], problem: tooLong(options.maxRecordChars) };
        const next = pastLineBreak(text, at, final);
        line++;
        at = next === -1 ? scan.end : next;
        continue;
      }
      line += scan.lines;
      at = scan.end;
      const fields = scan.fields;
      if (isBlank(fields)) continue;
      if (checkNotUtf8 && includesIn(fields, NOT_UTF8)) yield { line: start, fields: [], problem: PROBLEM_NOT_UTF8 };
      else if (checkNul && includesIn(fields, NUL)) yield { line: start, fields: [], problem: PROBLEM_NUL };
      else yield { line: start, fields };
    }
    let rest = text.slice(at);
    if (final && rest !== '') throw new CsvStop(line, 'a quoted field starting here is never closed; nothing after it was read');
    if (rest.length > options.maxRecordChars) {
      // Reported on the line it starts on; the reading goes on at the next line, which a
      // quote never closed would otherwise have swallowed with the rest of the file.
      yield { line, fields: [], problem: tooLong(options.maxRecordChars) };
      const next = pastLineBreak(rest, 0, false);
      if (next === -1) {
        skipping = true;
        rest = rest.endsWith('\r') ? '\r' : '';
      } else {
        line++;
        rest = rest.slice(next);
      }
    }
    carry = rest;
    reading = false;
  }
  const records = (text: string, final: boolean) => {
    if (reading) throw new Error('csvRecords: the records of a chunk must all be read before the next chunk');
    reading = true;
    return take(text, final);
  };

  for await (const chunk of input) {
    options.onChunk?.(typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length);
    let text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    if (!nul && text.includes(NUL)) nul = true;
    if (first && text !== '') {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    yield records(carry + text, false);
    await nextTurn();
  }
  yield records(carry + decoder.end(), true);
}
